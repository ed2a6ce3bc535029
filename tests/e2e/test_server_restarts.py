"""A PostgreSQL or NATS restart in the middle of a run does not stop the product.

Each test starts a multi-batch run, stops a server for a few seconds once the first batch is
loaded, checks that the API meanwhile answers 503 with ``Retry-After`` (never 500), starts the
server again on the same port and state, and then checks through the API that the run finished
with exactly the expected ids once each, every file loaded, and every service process still the
one that started (they waited in process instead of exiting).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from autoloader_cli.servers import PostgresServer
from autoloader_cli.stack import Stack
from autoloader_loader import faults
from tests.conftest import unique
from tests.e2e.conftest import Api, new_tenant, start_stack, write_csv

pytestmark = pytest.mark.e2e

FILES = 12
ROWS = 500
OUTAGE_SECONDS = 4.0
STACK_ENV = {
    "AUTOLOADER_BATCH_MAX_FILES": "1",
    "AUTOLOADER_HEARTBEAT_SECONDS": "0.5",
    "AUTOLOADER_FAULT": faults.SLOW_LOAD,  # 12 batches take >= 6 s: the outage starts mid-run on any machine
}


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test alone: it is stopped and started mid-run."""
    server = PostgresServer(tmp_path / "pg" / "data", fsync=False).start()
    try:
        yield server
    finally:
        server.stop()


def test_postgres_restart_mid_run(tmp_path: Path, own_postgres: PostgresServer) -> None:
    stack = start_stack(tmp_path / "stack", own_postgres.url, env=STACK_ENV)
    try:
        _survives(stack, stop=own_postgres.stop, start=own_postgres.start, probe=_probe_reads)
    finally:
        stack.stop()


def test_nats_restart_mid_run(tmp_path: Path, postgres_admin_url: str) -> None:
    stack = start_stack(tmp_path / "stack", postgres_admin_url, env=STACK_ENV)
    try:
        assert stack.nats is not None
        nats = stack.nats
        _survives(stack, stop=nats.stop, start=nats.start, probe=_probe_writes)
    finally:
        stack.stop()


def _survives(
    stack: Stack, *, stop: Callable[[], object], start: Callable[[], object], probe: Callable[[Api, str], None]
) -> None:
    api = new_tenant(stack)
    try:
        pids = {name: service.pid for name, service in stack.services.items()}
        ingestion_id, run_id = _run_caught_mid_way(stack, api)

        stop()
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < outage_ends:
            probe(api, ingestion_id)
            _assert_unavailable(httpx.get(f"{stack.api_url}/health/ready", timeout=30), problem=False)
            time.sleep(0.5)
        start()

        run = api.wait_run(ingestion_id, run_id, timeout=150)
        assert run["status"] == "success", run
        ids = sorted(row["id"] for row in api.sample(ingestion_id, limit=10_000, columns="id"))
        assert ids == list(range(FILES * ROWS))  # each id once: nothing lost, nothing doubled
        files = api.http.get(f"/ingestions/{ingestion_id}/files", params={"limit": 500}).json()["items"]
        assert len(files) == FILES
        assert {file["state"] for file in files} == {"loaded"}
        assert stack.dead_services() == []
        assert {name: service.pid for name, service in stack.services.items()} == pids
        _wait_ready(stack)
    finally:
        api.http.close()


def _start_run(stack: Stack, api: Api) -> tuple[str, str]:
    folder = stack.landing_dir / unique("blip")
    for n in range(FILES):
        write_csv(folder / f"part-{n:02}.csv", n * ROWS, ROWS)
    ingestion = api.create(api.ingestion_body(folder, table=unique("blip")))
    return ingestion["id"], api.run(ingestion["id"])


def _run_caught_mid_way(stack: Stack, api: Api, attempts: int = 3) -> tuple[str, str]:
    """Start runs until one is seen with some but not all files loaded (a busy machine may finish one first)."""
    for _ in range(attempts):
        ingestion_id, run_id = _start_run(stack, api)
        if _first_files_loaded(api, ingestion_id) < FILES:
            return ingestion_id, run_id
    raise AssertionError(f"{attempts} runs finished before the outage could start: make them longer")


def _first_files_loaded(api: Api, ingestion_id: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = api.http.get(f"/ingestions/{ingestion_id}/files", params={"state": "loaded", "limit": 500})
        loaded = len(page.json()["items"]) if page.status_code == 200 else 0
        if loaded:
            return loaded
        time.sleep(0.1)
    raise AssertionError("no file was loaded within 60s")


def _probe_reads(api: Api, ingestion_id: str) -> None:
    # PostgreSQL is down: every read (and the API key check itself) needs it.
    _assert_unavailable(api.http.get(f"/ingestions/{ingestion_id}"))
    _assert_unavailable(api.http.get(f"/ingestions/{ingestion_id}/runs"))


def _probe_writes(api: Api, ingestion_id: str) -> None:
    # NATS is down: reads still come from PostgreSQL, appending an event cannot happen. (The
    # write is a new draft ingestion: harmless even if it were applied.)
    assert api.http.get(f"/ingestions/{ingestion_id}").status_code == 200
    folder = Path(api.http.get(f"/ingestions/{ingestion_id}").json()["source"]["path"])
    body = api.ingestion_body(folder / "other", table=unique("other"))
    _assert_unavailable(api.http.post("/ingestions", json=body))


def _assert_unavailable(response: httpx.Response, *, problem: bool = True) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert int(response.headers["retry-after"]) > 0
    if problem:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 503
        assert body["type"].endswith(":unavailable")
        assert body["detail"]


def _wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 30
    ready = httpx.get(f"{stack.api_url}/health/ready", timeout=10)
    while ready.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        ready = httpx.get(f"{stack.api_url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
