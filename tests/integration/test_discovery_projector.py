"""Discovery and projector on real NATS and Postgres, with the test acting as the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts.ingestion import EngineSpec, SourceSpec
from autoloader_db.database import create_pool
from autoloader_discovery.app import body as discovery
from autoloader_projector.app import body as projector
from tests.discovery_support import DiscoveryHarness, discovery_settings
from tests.support import eventually, running

pytestmark = pytest.mark.integration


def _orders(folder: Path) -> SourceSpec:
    return SourceSpec(type="local", path=str(folder), file_pattern="*.csv")


async def _run_row(pool: Any, run_id: str, status: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM read.runs WHERE id = $1", run_id)
    return dict(row.items()) if row and row["status"] == status else None


async def test_runs_pick_only_new_files_and_complete(nats_url: str, database_url: str, data_dir: Path,
                                                     bus: Bus) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = data_dir / "landing" / "orders"
    folder.mkdir()
    for i in range(3):
        (folder / f"part-{i}.csv").write_text("id\n1\n")
    (folder / "ignored.json").write_text("{}")
    pool = await create_pool(database_url)
    settings = discovery_settings(nats_url, database_url, data_dir, batch_max_files=2)
    async with running(settings, discovery=discovery, projector=projector):
        ingestion = await harness.create_ingestion(_orders(folder))
        first = await harness.request_run(ingestion)
        assert await harness.planned_paths(first) == ["part-0.csv", "part-1.csv", "part-2.csv"]
        assert len([p for p in await harness.events_planned() if p.run_id == first]) == 2  # batch_max_files=2
        await harness.act_as_loader()
        row = await eventually(lambda: _run_row(pool, first, "success"), what="first run success")
        assert row["metrics"]["files_processed"] == 3
        assert row["metrics"]["records_ingested"] == 3

        (folder / "part-3.csv").write_text("id\n1\n")
        paths, completed = await harness.run_and_load(ingestion)
        assert paths == ["part-3.csv"]
        row = await eventually(lambda: _run_row(pool, completed.aggregate_id, "success"), what="second run")
        assert row["metrics"]["files_processed"] == 1

        third = await harness.request_run(ingestion)
        row = await eventually(lambda: _run_row(pool, third, "success"), what="empty run success")
        assert row["metrics"]["files_processed"] == 0
        files = await pool.fetch(
            "SELECT path, state FROM read.files WHERE ingestion_id = $1 ORDER BY path", ingestion
        )
        assert [(f["path"], f["state"]) for f in files] == [(f"part-{i}.csv", "loaded") for i in range(4)]
    await pool.close()


async def test_second_run_while_one_is_active_is_skipped(nats_url: str, database_url: str, data_dir: Path,
                                                         bus: Bus) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = data_dir / "landing" / "x"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n")
    pool = await create_pool(database_url)
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery,
                       projector=projector):
        ingestion = await harness.create_ingestion(_orders(folder))
        first = await harness.request_run(ingestion)
        await harness.planned_paths(first)
        second = await harness.request_run(ingestion)
        skipped = await eventually(lambda: _run_row(pool, second, "skipped"), what="second run skipped")
        assert first in skipped["skip_reason"]
    await pool.close()


async def test_missing_folder_fails_the_run_with_its_name(nats_url: str, database_url: str, data_dir: Path,
                                                          bus: Bus) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    pool = await create_pool(database_url)
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery,
                       projector=projector):
        ingestion = await harness.create_ingestion(_orders(data_dir / "landing" / "nope"))
        run = await harness.request_run(ingestion)
        row = await eventually(lambda: _run_row(pool, run, "failed"), what="failed run")
        assert "does not exist" in row["errors"][0]["message"]
        assert await pool.fetchval("SELECT count(*) FROM discovery.ledger") == 0
    await pool.close()


async def test_batches_carry_the_cluster_and_read_mode_and_runs_sum_spark_seconds(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = data_dir / "landing" / "spark"
    folder.mkdir()
    for i in range(3):
        (folder / f"part-{i}.csv").write_text("id\n1\n")
    pool = await create_pool(database_url)
    settings = discovery_settings(nats_url, database_url, data_dir, batch_max_files=2)
    async with running(settings, discovery=discovery, projector=projector):
        ingestion = await harness.create_ingestion(
            _orders(folder), cluster_id="clu_spark0001", engine=EngineSpec(read_files="connector")
        )
        run = await harness.request_run(ingestion)
        await harness.planned_paths(run)
        plans = [p for p in await harness.events_planned() if p.run_id == run]
        await harness.act_as_loader(spark_seconds=1.25, read_by="connector")
        completed = await harness.completed(run)
        row = await eventually(lambda: _run_row(pool, run, "success"), what="run success")
        batches = await pool.fetch("SELECT spark_seconds FROM discovery.batches WHERE run_id = $1", run)
    await pool.close()

    assert len(plans) == 2  # batch_max_files=2
    assert {(p.cluster_id, p.read_files) for p in plans} == {("clu_spark0001", "connector")}
    assert [b["spark_seconds"] for b in batches] == [1.25, 1.25]
    assert completed.metrics.spark_seconds == 2.5
    assert row["metrics"]["spark_seconds"] == 2.5
