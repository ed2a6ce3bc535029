"""A loader killed between the Iceberg commit and the acknowledgement causes no duplicates."""

from __future__ import annotations

import time

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, new_tenant, write_csv

pytestmark = pytest.mark.e2e


def test_loader_crash_after_commit_does_not_duplicate_rows(crashing_stack: Stack) -> None:
    api = new_tenant(crashing_stack)
    try:
        _crash_and_recover(crashing_stack, api)
    finally:
        api.http.close()


def _crash_and_recover(crashing_stack: Stack, api: Api) -> None:
    folder = crashing_stack.landing_dir / unique("crash")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
    ingestion = api.create(api.ingestion_body(folder, table=unique("crash")))
    run_id = api.run(ingestion["id"])

    deadline = time.monotonic() + 60
    while "loader" not in crashing_stack.dead_services():
        assert time.monotonic() < deadline, "the loader never reached its fault point"
        time.sleep(0.2)
    # The batch is committed but unacknowledged: the table has the rows, the run is not done.
    assert api.http.get(f"/ingestions/{ingestion['id']}/runs/{run_id}").json()["status"] == "running"

    crashing_stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": ""})
    run = api.wait_run(ingestion["id"], run_id)
    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 3000
    table = api.table(ingestion["id"])
    assert table["row_count"] == 3000
    assert len(table["snapshots"]) == 1
    ids = [row["id"] for row in api.sample(ingestion["id"], limit=10000, columns="id")]
    assert sorted(ids) == list(range(3000))
