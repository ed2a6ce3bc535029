"""Messages that can never be handled end visibly, never silently: through the HTTP API only.

- a batch that fails every delivery fails its run with the reason, and the ingestion runs again;
- a loader that dies on a batch's every delivery leaves no outcome: the run watchdog settles it;
- an undecodable message on the log is dead-lettered, and the services keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoloader_bus.connection import Bus
from autoloader_cli.stack import Stack
from autoloader_core.errors import TerminalError
from tests.conftest import unique
from tests.e2e.conftest import Api, new_tenant, start_stack, write_csv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A stack that gives messages up quickly: 2 deliveries, 2 s apart, and a watchdog every 2 s."""
    running = start_stack(
        tmp_path_factory.mktemp("given_up"),
        postgres_admin_url,
        env={
            "AUTOLOADER_ACK_WAIT_SECONDS": "2",
            "AUTOLOADER_MAX_DELIVER": "2",
            "AUTOLOADER_RUN_WATCHDOG_SECONDS": "2",
        },
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(fast_stack: Stack) -> Iterator[Api]:
    client = new_tenant(fast_stack)
    yield client
    client.http.close()


def restart_loader(stack: Stack, fault: str) -> None:
    """Start the loader with ``fault`` (a fault that kills it may do so before it reports ready)."""
    if "loader" not in stack.dead_services():
        stack.kill_service("loader")
    try:
        stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": fault})
    except TerminalError as exc:
        if "exited" not in str(exc) or not fault:
            raise


def wait_loader_dead(stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while "loader" not in stack.dead_services():
        assert time.monotonic() < deadline, "the loader never reached its fault point"
        time.sleep(0.1)


def folder_with_files(stack: Stack, files: int, rows: int) -> Path:
    folder = stack.landing_dir / unique("given_up")
    for n in range(files):
        write_csv(folder / f"part-{n}.csv", n * rows, rows)
    return folder


def status(stack: Stack) -> dict[str, object]:
    response = httpx.get(
        f"{stack.api_url}/api/v1/status", headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_batch_failing_every_delivery_fails_the_run_with_the_reason_and_blocks_nothing(
    fast_stack: Stack, api: Api
) -> None:
    folder = folder_with_files(fast_stack, files=2, rows=50)
    ingestion = api.create(api.ingestion_body(folder, table=unique("exhausted")))
    restart_loader(fast_stack, "loader.fail_load")
    try:
        run = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=60)
    finally:
        restart_loader(fast_stack, "")
    assert run["status"] == "failed", run
    messages = [e["message"] for e in run["errors"]]
    assert any("the object store timed out" in m and "gave up" in m for m in messages), messages
    assert run["metrics"]["files_failed"] == 2

    letters = status(fast_stack)["dead_letters"]
    assert isinstance(letters, dict)
    assert any(
        x["consumer"] == "loader" and x["kind"] == "exhausted" and x["attempts"] == 2 for x in letters["latest"]
    ), letters

    # The ingestion is not blocked: the retry of the failed files loads them, a later run is not skipped.
    response = api.http.post(f"/ingestions/{ingestion['id']}/runs/{run['id']}/retry")
    assert response.status_code == 202, response.text
    retry = api.wait_run(ingestion["id"], response.json()["run_id"])
    assert retry["status"] == "success", retry
    assert api.table(ingestion["id"])["row_count"] == 100
    later = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert later["status"] == "success", later
    assert later["metrics"]["files_processed"] == 0


def test_a_loader_dying_on_every_delivery_has_its_run_settled_by_the_watchdog(fast_stack: Stack, api: Api) -> None:
    folder = folder_with_files(fast_stack, files=1, rows=30)
    ingestion = api.create(api.ingestion_body(folder, table=unique("watchdog")))
    restart_loader(fast_stack, "loader.exit_before_load")
    run_id = api.run(ingestion["id"])
    wait_loader_dead(fast_stack)
    restart_loader(fast_stack, "loader.exit_before_load")  # the redelivery kills it again: no delivery is left
    wait_loader_dead(fast_stack)
    restart_loader(fast_stack, "")

    run = api.wait_run(ingestion["id"], run_id, timeout=60)
    assert run["status"] == "failed", run
    abandoned = [e for e in run["errors"] if e["error_type"] == "batch_abandoned"]
    assert abandoned, run["errors"]
    assert "Retry the run's failed files" in abandoned[0]["message"]
    files = api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"]
    assert [f["state"] for f in files] == ["failed"]

    response = api.http.post(f"/ingestions/{ingestion['id']}/runs/{run_id}/retry")
    assert response.status_code == 202, response.text
    retry = api.wait_run(ingestion["id"], response.json()["run_id"])
    assert retry["status"] == "success", retry
    ids = sorted(row["id"] for row in api.sample(ingestion["id"], limit=1000, columns="id"))
    assert ids == list(range(30))


async def _publish_poison(nats_url: str) -> None:
    bus = await Bus.connect(nats_url, stream="AUTOLOADER", name="poisoner")
    try:
        subject = "autoloader.ten_poison.run.run_poison.requested"
        await bus.js.publish(subject, b'{"type": "run.requested.v0", "oops": true}', stream=bus.stream)
    finally:
        await bus.close()


def test_an_undecodable_event_is_dead_lettered_and_the_services_keep_working(fast_stack: Stack, api: Api) -> None:
    assert fast_stack.nats is not None
    asyncio.run(_publish_poison(fast_stack.nats.url))

    # Discovery (its consumer), the projector and the scheduler (log followers) all see it.
    deadline = time.monotonic() + 30
    consumers: set[str] = set()
    while not {"discovery", "projector", "scheduler"} <= consumers:
        assert time.monotonic() < deadline, f"dead letters seen so far: {consumers}"
        letters = status(fast_stack)["dead_letters"]
        assert isinstance(letters, dict)
        consumers = {x["consumer"] for x in letters["latest"] if x["subject"].endswith("run_poison.requested")}
        time.sleep(0.3)
    assert all(x["kind"] == "undecodable" for x in letters["latest"] if x["subject"].endswith("run_poison.requested"))

    folder = folder_with_files(fast_stack, files=1, rows=10)
    ingestion = api.create(api.ingestion_body(folder, table=unique("after_poison")))
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert run["status"] == "success", run
    assert api.table(ingestion["id"])["row_count"] == 10
    assert fast_stack.dead_services() == []
