"""Three loader processes share one run's twenty batches: every row lands exactly once.

The real stack runs three loader processes (`autoloader up --loader-replicas 3`); a batch holds one
file, so a run of twenty files is twenty batches on one durable consumer. Each loader's own
metrics endpoint says how many batches it loaded: the work is shared, and the table holds each
row once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, metric_total, running_stack, write_csv

pytestmark = pytest.mark.e2e

LOADERS = ("loader", "loader-2", "loader-3")
FILES = 20
ROWS_PER_FILE = 500
"""20 x 500 rows: the whole table fits one sample (at most 10,000 rows), so each id is checked."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A stack with three loaders and one file per batch."""
    with running_stack(
        tmp_path_factory.mktemp("loaders"),
        postgres_admin_url,
        env={"AUTOLOADER_BATCH_MAX_FILES": "1"},
        loader_replicas=3,
    ) as running:
        yield running


def _batches_loaded(stack: Stack, process: str) -> float:
    return metric_total(stack, process, "autoloader_batch_duration_seconds_count", outcome="loaded")


def test_three_loaders_share_twenty_batches_and_load_every_row_once(stack: Stack, api: Api) -> None:
    assert set(LOADERS) <= set(stack.processes)
    folder = stack.landing_dir / unique("shared")
    for index in range(FILES):
        write_csv(folder / f"part-{index:02d}.csv", first_id=index * ROWS_PER_FILE, rows=ROWS_PER_FILE)
    ingestion_id: str = api.create(api.ingestion_body(folder, table=unique("shared")))["id"]

    run = api.wait_run(ingestion_id, api.run(ingestion_id), timeout=180)

    assert run["status"] == "success", run
    assert run["metrics"]["files_processed"] == FILES
    assert run["metrics"]["records_ingested"] == FILES * ROWS_PER_FILE
    table = api.table(ingestion_id)
    assert table["row_count"] == FILES * ROWS_PER_FILE
    ids = [row["id"] for row in api.sample(ingestion_id, limit=FILES * ROWS_PER_FILE, columns="id")]
    assert sorted(ids) == list(range(FILES * ROWS_PER_FILE))
    per_loader = {process: _batches_loaded(stack, process) for process in LOADERS}
    assert sum(per_loader.values()) == FILES, per_loader
    assert sum(1 for count in per_loader.values() if count) >= 2, f"one loader did all the work: {per_loader}"
