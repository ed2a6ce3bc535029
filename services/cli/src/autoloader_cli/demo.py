"""The demo: three CSV files of orders, one ingestion, one run, and the table's row count.

Everything goes through the public HTTP API with the default tenant's key, like a user would.
Running it again (after a restart) reuses the files and the ingestion: the run then finds
nothing new and the table keeps its 3,000 rows.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from autoloader_core.errors import TerminalError, TransientError

DEMO_NAME = "demo-orders"
DEMO_FILES = 3
ROWS_PER_FILE = 1_000
CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli")
ACTIVE_RUN_STATUSES = frozenset({"queued", "running", "accepted", "requested"})


@dataclass(frozen=True)
class DemoResult:
    """What the demo reports."""

    ingestion_id: str
    run_id: str
    status: str
    files: int
    rows: int
    table_rows: int | None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        return [
            f"demo ingestion {self.ingestion_id}: run {self.run_id} -> {self.status}",
            f"  files loaded: {self.files}, rows ingested: {self.rows}",
            f"  table lake.demo.orders row count: {self.table_rows}",
        ]


def write_demo_files(folder: Path) -> list[Path]:
    """Write the demo CSV files into ``folder`` (existing files are kept, so reruns load nothing new)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    paths = []
    for number in range(DEMO_FILES):
        path = folder / f"orders-{number + 1:03d}.csv"
        paths.append(path)
        if path.exists():
            continue
        partial = path.with_suffix(".tmp")
        with partial.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "customer", "amount", "ordered_at"])
            for offset in range(ROWS_PER_FILE):
                row_id = number * ROWS_PER_FILE + offset
                ordered_at = start + timedelta(minutes=row_id)
                amount = f"{(row_id * 37) % 10_000 / 100:.2f}"
                writer.writerow([row_id, CUSTOMERS[row_id % len(CUSTOMERS)], amount, ordered_at.isoformat()])
        # Rename only when complete: discovery never sees a half-written file.
        partial.rename(path)
    return paths


def ingestion_body(folder: Path) -> dict[str, Any]:
    """The demo ingestion as the HTTP API expects it."""
    return {
        "name": DEMO_NAME,
        "source": {"type": "local", "path": str(folder), "file_pattern": "*.csv"},
        "format": {"type": "csv"},
        "destination": {"catalog": "lake", "database": "demo", "table": "orders"},
        "schedule": {"frequency": "daily", "time": "02:00", "timezone": "UTC"},
    }


class DemoClient:
    """The few API calls the demo makes, with errors that say what failed."""

    def __init__(self, api_url: str, api_key: str) -> None:
        self.http = httpx.Client(
            base_url=f"{api_url}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        """Send a request; raise TerminalError unless the status is in ``ok``."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code not in ok:
            raise TerminalError(f"{method} {path} failed with HTTP {response.status_code}: {response.text}")
        return response

    def find_ingestion(self, name: str) -> dict[str, Any] | None:
        """Return the ingestion called ``name``, following list pages."""
        cursor: str | None = None
        while True:
            params = {"q": name, **({"cursor": cursor} if cursor else {})}
            page = self.request("GET", "/ingestions", params=params).json()
            for item in page.get("items", []):
                if item.get("name") == name or item.get("config", {}).get("name") == name:
                    return dict(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return None

    def ensure_ingestion(self, folder: Path) -> str:
        """Create and activate the demo ingestion unless it exists; return its id."""
        existing = self.find_ingestion(DEMO_NAME)
        if existing is None:
            existing = self.request("POST", "/ingestions", ok=(200, 201), json=ingestion_body(folder)).json()
        ingestion_id = str(existing["id"])
        if existing.get("status") == "draft":
            self.request("POST", f"/ingestions/{ingestion_id}/activate", ok=(200, 201, 202, 204))
        return ingestion_id

    def run(self, ingestion_id: str) -> str:
        """Start a run now; return its id."""
        response = self.request("POST", f"/ingestions/{ingestion_id}/run", ok=(200, 201, 202))
        return str(response.json()["run_id"])

    def wait_for_run(self, ingestion_id: str, run_id: str, *, timeout: float = 180.0) -> dict[str, Any]:
        """Poll the run until it has finished; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.request("GET", f"/ingestions/{ingestion_id}/runs/{run_id}", ok=(200, 404))
            # 404: the projection has not caught up with RunRequested yet.
            if response.status_code == 200 and response.json().get("status") not in ACTIVE_RUN_STATUSES:
                return dict(response.json())
            time.sleep(0.5)
        raise TransientError(
            f"run {run_id} did not finish within {timeout:.0f}s; see the discovery and loader logs"
        )

    def table_rows(self, ingestion_id: str) -> int | None:
        """The destination table's row count (``None`` if the table does not exist yet)."""
        response = self.request("GET", f"/ingestions/{ingestion_id}/table", ok=(200, 404))
        if response.status_code == 404:
            return None
        count = response.json().get("row_count")
        return None if count is None else int(count)


def run_demo(api_url: str, api_key: str, landing_dir: Path) -> DemoResult:
    """Write the demo files, create (or reuse) the ingestion, run it and report the result."""
    folder = landing_dir / "demo" / "orders"
    write_demo_files(folder)
    client = DemoClient(api_url, api_key)
    try:
        ingestion_id = client.ensure_ingestion(folder)
        run_id = client.run(ingestion_id)
        run = client.wait_for_run(ingestion_id, run_id)
        metrics = run.get("metrics") or {}
        return DemoResult(
            ingestion_id=ingestion_id,
            run_id=run_id,
            status=str(run.get("status")),
            files=int(metrics.get("files_processed", 0)),
            rows=int(metrics.get("records_ingested", 0)),
            table_rows=client.table_rows(ingestion_id),
        )
    finally:
        client.close()
