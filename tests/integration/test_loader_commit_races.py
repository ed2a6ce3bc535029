"""Lost commit races between loaders sharing one table (issue 13: loaders scale by replicas).

A loader that loses the race to another writer commits the data files it already wrote onto the
new table state, when the batch is an append and the table's schema and spec did not move; when
they moved, or the winner was this very batch, it falls back to the old path. Each test forces the
race: a rival engine commits into the same table just before the first engine's commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autoloader_contracts.events import BatchPlanned
from autoloader_contracts.ingestion import DestinationSpec
from autoloader_core.settings import Settings
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import TableRef
from tests.integration.conftest import engine_settings
from tests.integration.test_loader_engine import planned, write_csv

pytestmark = pytest.mark.integration

TABLE = TableRef("tnt_a", "lake", "db", "t")


class LosesTheFirstRace(EmbeddedEngine):
    """An engine whose first commit is preceded by a rival's commit of ``rival_batch``; counts its reads."""

    def __init__(self, settings: Settings, rival: EmbeddedEngine) -> None:
        super().__init__(settings)
        self.rival = rival
        self.rival_batch: BatchPlanned | None = None
        self.reads = 0

    def _fault_before_commit(self) -> None:
        batch, self.rival_batch = self.rival_batch, None
        if batch is not None:
            self.rival._load_batch(batch, None)

    def _read_into(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super()._read_into(*args, **kwargs)


@pytest.fixture
async def engines(database_url: str, tmp_path: Path, landing: Path) -> AsyncIterator[LosesTheFirstRace]:
    settings = engine_settings(database_url, tmp_path, landing)
    rival = EmbeddedEngine(settings)
    loser = LosesTheFirstRace(settings, rival)
    yield loser
    await loser.close()
    await rival.close()


def data_files_on_disk(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "warehouse").rglob("*.parquet")}


def data_files_of(engine: EmbeddedEngine) -> set[str]:
    table = engine._existing(TABLE)
    return {Path(task.file.file_path).name for task in table.scan().plan_files()}


def batch_ids(info: dict[str, Any]) -> list[str | None]:
    return [s["summary"].get("autoloader.batch-id") for s in info["snapshots"]]


@pytest.fixture
def seeded(engines: LosesTheFirstRace, landing: Path) -> None:
    engines.rival._load_batch(planned(landing, [write_csv(landing, "seed.csv", range(5))]), None)


@pytest.mark.usefixtures("seeded")
async def test_the_loser_commits_its_written_files_onto_the_winners_table_without_reading_again(
    engines: LosesTheFirstRace, landing: Path, tmp_path: Path
) -> None:
    mine = planned(landing, [write_csv(landing, f"mine{i}.csv", range(i * 100, i * 100 + 100)) for i in range(3)])
    rival = engines.rival_batch = planned(landing, [write_csv(landing, "rival.csv", range(1000, 1050))])

    result = await engines.load_batch(mine)

    assert engines.reads == 1  # committed after the lost race with the files it had written
    assert result.rows == 300
    assert [f.rows for f in result.files] == [100, 100, 100]
    info = await engines.table_info(TABLE)
    assert info["row_count"] == 5 + 50 + 300
    ids = batch_ids(info)
    assert ids.count(mine.aggregate_id) == 1
    assert ids.index(rival.aggregate_id) < ids.index(mine.aggregate_id)  # the rival won the race
    assert info["snapshots"][-1]["snapshot_id"] == result.snapshot_id
    assert info["snapshots"][-1]["summary"]["autoloader.batch-rows"] == "300"
    rows = await engines.table_sample(TABLE, limit=1000, columns=["id"])
    assert sorted(r["id"] for r in rows) == sorted([*range(5), *range(300), *range(1000, 1050)])
    assert data_files_on_disk(tmp_path) == data_files_of(engines)  # nothing orphaned


@pytest.mark.usefixtures("seeded")
async def test_when_the_winner_changed_the_schema_the_loser_rewrites_into_the_new_schema(
    engines: LosesTheFirstRace, landing: Path, tmp_path: Path
) -> None:
    mine = planned(landing, [write_csv(landing, "mine.csv", range(100, 200))])
    engines.rival_batch = planned(landing, [write_csv(landing, "wider.csv", range(1000, 1010), extra="score")])

    result = await engines.load_batch(mine)

    assert engines.reads == 2  # the written files had the old schema: read and written again
    assert result.rows == 100
    info = await engines.table_info(TABLE)
    assert [c["name"] for c in info["schema"]] == ["id", "name", "score"]
    assert info["row_count"] == 5 + 10 + 100
    assert batch_ids(info).count(mine.aggregate_id) == 1
    assert data_files_on_disk(tmp_path) == data_files_of(engines)  # the first attempt's files were deleted


@pytest.mark.usefixtures("seeded")
async def test_when_the_winner_was_the_same_batch_the_loser_keeps_its_commit_and_deletes_its_files(
    engines: LosesTheFirstRace, landing: Path, tmp_path: Path
) -> None:
    mine = planned(landing, [write_csv(landing, "mine.csv", range(100, 200))])
    engines.rival_batch = mine  # a redelivery racing the first delivery

    result = await engines.load_batch(mine)

    assert result.already_committed
    info = await engines.table_info(TABLE)
    assert info["row_count"] == 105
    assert batch_ids(info).count(mine.aggregate_id) == 1
    assert result.snapshot_id == info["snapshots"][-1]["snapshot_id"]
    assert data_files_on_disk(tmp_path) == data_files_of(engines)


@pytest.mark.usefixtures("seeded")
async def test_an_overwrite_batch_that_lost_the_race_is_written_again(
    engines: LosesTheFirstRace, landing: Path, tmp_path: Path
) -> None:
    base = planned(landing, [write_csv(landing, "full.csv", range(100, 120))])
    destination = DestinationSpec(
        catalog="lake", database="db", table="t", lineage_columns=False, write_mode="overwrite"
    )
    mine = base.__class__(**{**{f: getattr(base, f) for f in base.__struct_fields__}, "destination": destination})
    engines.rival_batch = planned(landing, [write_csv(landing, "rival.csv", range(1000, 1010))])

    result = await engines.load_batch(mine)

    assert engines.reads == 2  # an overwrite depends on what the table held: never reused
    assert result.rows == 20
    rows = await engines.table_sample(TABLE, limit=100, columns=["id"])
    assert sorted(r["id"] for r in rows) == list(range(100, 120))
    assert data_files_on_disk(tmp_path) >= data_files_of(engines)
