"""Every background service scaled out at once: two discovery, two loader and two projector processes.

Six ingestions run at the same moment on `autoloader up --discovery-replicas 2 --loader-replicas 2
--projector-replicas 2`, one file per batch. Discovery replicas share one durable consumer and the
RPC queue groups, so events of different runs are handled in parallel; projector replicas follow
the same log and take turns on the checkpoint row. The proof is the outcome through the API: every
run succeeds, every row is in its table once, each run is listed once with the right metrics (a
projector applying an event twice would double them), and both discovery processes did work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, metric_total, running_stack, write_csv

pytestmark = pytest.mark.e2e

INGESTIONS = 6
FILES = 4
ROWS_PER_FILE = 250


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """Two replicas of each background service but the scheduler; one file per batch."""
    with running_stack(
        tmp_path_factory.mktemp("replicas"),
        postgres_admin_url,
        env={"AUTOLOADER_BATCH_MAX_FILES": "1"},
        discovery_replicas=2,
        loader_replicas=2,
        projector_replicas=2,
    ) as running:
        yield running


def test_six_runs_at_once_on_replicated_services_load_every_row_once_and_are_projected_once(
    stack: Stack, api: Api
) -> None:
    assert {"discovery-2", "loader-2", "projector-2"} <= set(stack.processes)
    ingestions: list[str] = []
    for number in range(INGESTIONS):
        folder = stack.landing_dir / unique(f"replicas{number}")
        for index in range(FILES):
            first = (number * FILES + index) * ROWS_PER_FILE
            write_csv(folder / f"part-{index}.csv", first_id=first, rows=ROWS_PER_FILE)
        ingestions.append(api.create(api.ingestion_body(folder, table=unique(f"replicas{number}")))["id"])

    runs = {ingestion: api.run(ingestion) for ingestion in ingestions}
    finished = {ingestion: api.wait_run(ingestion, run, timeout=180) for ingestion, run in runs.items()}

    for number, ingestion in enumerate(ingestions):
        run = finished[ingestion]
        assert run["status"] == "success", run
        assert run["metrics"]["files_processed"] == FILES, run["metrics"]
        assert run["metrics"]["records_ingested"] == FILES * ROWS_PER_FILE, run["metrics"]
        assert [r["id"] for r in api.runs(ingestion)] == [runs[ingestion]]
        ids = sorted(row["id"] for row in api.sample(ingestion, limit=FILES * ROWS_PER_FILE, columns="id"))
        first = number * FILES * ROWS_PER_FILE
        assert ids == list(range(first, first + FILES * ROWS_PER_FILE))
        assert api.table(ingestion)["row_count"] == FILES * ROWS_PER_FILE
    listed = {p: metric_total(stack, p, "autoloader_objects_listed_total") for p in ("discovery", "discovery-2")}
    assert all(listed.values()), f"one discovery process did all the listing: {listed}"
