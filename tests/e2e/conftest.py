"""End-to-end fixtures: the real stack (five service processes) driven through HTTP only."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from tests.conftest import unique

TERMINAL_RUN_STATES = {"success", "partial", "failed", "skipped"}


def start_stack(
    data_dir: Path,
    postgres_admin_url: str,
    *,
    env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
    loader_replicas: int = 1,
    discovery_replicas: int = 1,
    projector_replicas: int = 1,
) -> Stack:
    """Start a stack on its own NATS server and its own database of the session's PostgreSQL."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOADER_")}
    environ |= {
        "AUTOLOADER_DATABASE_URL": postgres_admin_url.rsplit("/", 1)[0] + "/" + unique("e2e"),
        "AUTOLOADER_ADMIN_TOKEN": unique("admin"),
        "AUTOLOADER_ACK_WAIT_SECONDS": "5",
        "AUTOLOADER_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    return Stack(
        data_dir,
        port=free_port(),
        environ=environ,
        service_env=service_env,
        loader_replicas=loader_replicas,
        discovery_replicas=discovery_replicas,
        projector_replicas=projector_replicas,
    ).start()


@contextmanager
def running_stack(data_dir: Path, postgres_admin_url: str, **options: Any) -> Iterator[Stack]:
    """:func:`start_stack` for the length of a ``with`` block (a module fixture's body)."""
    running = start_stack(data_dir, postgres_admin_url, **options)
    try:
        yield running
    finally:
        running.stop()


def metric_total(stack: Stack, process: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples named ``name`` (with ``labels``) on one process's metrics endpoint."""
    text = httpx.get(stack.metrics_urls[process], timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


class Api:
    """A thin HTTP client for one tenant of a running stack."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30.0
        )

    def ingestion_body(self, folder: Path, *, table: str, **overrides: Any) -> dict[str, Any]:
        """A valid create body for a CSV folder ingestion."""
        body: dict[str, Any] = {
            "name": table,
            "source": {"type": "local", "path": str(folder), "file_pattern": "*.csv"},
            "format": {"type": "csv"},
            "destination": {"catalog": "lake", "database": "e2e", "table": table},
            "schedule": {"frequency": "manual"},
        }
        body.update(overrides)
        return body

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an ingestion and return it (asserting 201)."""
        response = self.http.post("/ingestions", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def run(self, ingestion_id: str) -> str:
        """Start a run now and return its id (asserting 202)."""
        response = self.http.post(f"/ingestions/{ingestion_id}/run")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted"
        run_id: str = response.json()["run_id"]
        return run_id

    def wait_run(self, ingestion_id: str, run_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Poll the run until it ends; return it."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.http.get(f"/ingestions/{ingestion_id}/runs/{run_id}")
            if response.status_code == 200:
                run = response.json()
                if run["status"] in TERMINAL_RUN_STATES:
                    return run
            time.sleep(0.25)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s; last seen: {run}")

    def table(self, ingestion_id: str) -> dict[str, Any]:
        """The destination table's description."""
        response = self.http.get(f"/ingestions/{ingestion_id}/table")
        assert response.status_code == 200, response.text
        table: dict[str, Any] = response.json()
        return table

    def sample(self, ingestion_id: str, **params: Any) -> list[dict[str, Any]]:
        """Sample rows of the destination table."""
        response = self.http.get(f"/ingestions/{ingestion_id}/table/sample", params=params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows

    def runs(self, ingestion_id: str) -> list[dict[str, Any]]:
        """Run history (newest first)."""
        response = self.http.get(f"/ingestions/{ingestion_id}/runs", params={"limit": 500})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def write_csv(path: Path, first_id: int, rows: int) -> None:
    """Write a CSV with columns id, name, amount; ids first_id .. first_id + rows - 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "amount"])
        for i in range(first_id, first_id + rows):
            writer.writerow([i, f"customer-{i % 97}", f"{i * 1.5:.2f}"])


@pytest.fixture(scope="module")
def crashing_stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A stack whose loader exits right after committing a batch, before acknowledging it."""
    with running_stack(
        tmp_path_factory.mktemp("crash"),
        postgres_admin_url,
        env={"AUTOLOADER_ACK_WAIT_SECONDS": "3"},
        service_env={"loader": {"AUTOLOADER_FAULT": "loader.after_commit"}},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A running stack shared by one test module; its scheduler runs 60x faster than real time."""
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        postgres_admin_url,
        service_env={"scheduler": {"AUTOLOADER_CLOCK_SCALE": "60"}},
    ) as running:
        yield running


def new_tenant(stack: Stack) -> Api:
    """Create a fresh tenant through the admin API and return a client for it (close it after use)."""
    response = httpx.post(
        f"{stack.api_url}/api/v1/admin/tenants",
        json={"name": unique("tenant")},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return Api(stack.api_url, response.json()["api_key"])


@pytest.fixture
def tenants(stack: Stack) -> Iterator[Callable[[], Api]]:
    """A factory of clients for new tenants of the module's stack, closed after the test."""
    made: list[Api] = []

    def make() -> Api:
        made.append(new_tenant(stack))
        return made[-1]

    yield make
    for client in made:
        client.http.close()


@pytest.fixture
def api(tenants: Callable[[], Api]) -> Api:
    """A client for a new tenant of the module's stack."""
    return tenants()
