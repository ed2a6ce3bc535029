"""Discovery and projector on real NATS and Postgres, with the test acting as the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_contracts.subjects import events_of
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings
from autoloader_db.database import create_pool
from autoloader_discovery.app import body as discovery
from autoloader_projector.app import body as projector
from tests.support import envelope, eventually, running

pytestmark = pytest.mark.integration


def _settings(nats_url: str, database_url: str, data_dir: Path) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, data_dir=data_dir, batch_max_files=2)


async def _create_ingestion(store: EventStore, tenant: str, folder: Path) -> str:
    ingestion = new_id("ing")
    config = IngestionConfig(
        name="orders",
        source=SourceSpec(type="local", path=str(folder), file_pattern="*.csv"),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="sales", table="orders"),
    )
    await store.append(
        ev.IngestionCreated(**envelope(tenant, ingestion), config=config, status="active"), expected_version=0
    )
    return ingestion


async def _request_run(store: EventStore, tenant: str, ingestion: str) -> str:
    run = new_id("run")
    await store.append(
        ev.RunRequested(**envelope(tenant, run), ingestion_id=ingestion, trigger="manual"), expected_version=0
    )
    return run


async def _events(store: EventStore, event_type: type[ev.Event]) -> list[Any]:
    return [s.event for s in await store.read_subject(events_of(event_type))]


async def _act_as_loader(store: EventStore) -> None:
    """Acknowledge every planned batch as loaded with one row per file."""
    done = {e.aggregate_id for e in await _events(store, ev.BatchLoaded)}
    for plan in await _events(store, ev.BatchPlanned):
        if plan.aggregate_id in done:
            continue
        files = [ev.FileResult(path=f.path, rows=1, bytes=f.size) for f in plan.files]
        await store.append(
            ev.BatchLoaded(
                **envelope(plan.tenant_id, plan.aggregate_id),
                ingestion_id=plan.ingestion_id,
                run_id=plan.run_id,
                files=files,
                rows=len(files),
                bytes=sum(f.size for f in plan.files),
                snapshot_id=7,
                table="lake.sales.orders",
                duration_seconds=0.1,
            )
        )


async def test_runs_pick_only_new_files_and_complete(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    store = EventStore(bus)
    tenant = new_id("tnt")
    folder = data_dir / "landing" / "orders"
    folder.mkdir()
    for i in range(3):
        (folder / f"part-{i}.csv").write_text("id\n1\n")
    (folder / "ignored.json").write_text("{}")
    pool = await create_pool(database_url)
    async with running(_settings(nats_url, database_url, data_dir), discovery=discovery, projector=projector):
        ingestion = await _create_ingestion(store, tenant, folder)
        first = await _request_run(store, tenant, ingestion)
        plans = await eventually(lambda: _events(store, ev.BatchPlanned), what="batch plans")
        await eventually(lambda: _plans_count(store, 2), what="two batches (batch_max_files=2)")
        plans = await _events(store, ev.BatchPlanned)
        assert sorted(f.path for p in plans for f in p.files) == ["part-0.csv", "part-1.csv", "part-2.csv"]
        await _act_as_loader(store)
        row = await eventually(lambda: _run_row(pool, first, "success"), what="first run success")
        assert row["metrics"]["files_processed"] == 3
        assert row["metrics"]["records_ingested"] == 3

        (folder / "part-3.csv").write_text("id\n1\n")
        second = await _request_run(store, tenant, ingestion)
        await eventually(lambda: _plans_count(store, 3), what="third batch")
        await _act_as_loader(store)
        row = await eventually(lambda: _run_row(pool, second, "success"), what="second run success")
        assert row["metrics"]["files_processed"] == 1

        third = await _request_run(store, tenant, ingestion)
        row = await eventually(lambda: _run_row(pool, third, "success"), what="empty run success")
        assert row["metrics"]["files_processed"] == 0
        files = await pool.fetch(
            "SELECT path, state FROM read.files WHERE ingestion_id = $1 ORDER BY path", ingestion
        )
        assert [(f["path"], f["state"]) for f in files] == [(f"part-{i}.csv", "loaded") for i in range(4)]
    await pool.close()


async def test_second_run_while_one_is_active_is_skipped(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    store = EventStore(bus)
    tenant = new_id("tnt")
    folder = data_dir / "landing" / "x"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n")
    pool = await create_pool(database_url)
    async with running(_settings(nats_url, database_url, data_dir), discovery=discovery, projector=projector):
        ingestion = await _create_ingestion(store, tenant, folder)
        first = await _request_run(store, tenant, ingestion)
        await eventually(lambda: _plans_count(store, 1), what="first run planned")
        second = await _request_run(store, tenant, ingestion)
        skipped = await eventually(lambda: _run_row(pool, second, "skipped"), what="second run skipped")
        assert first in skipped["skip_reason"]
    await pool.close()


async def test_missing_folder_fails_the_run_with_its_name(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    store = EventStore(bus)
    tenant = new_id("tnt")
    pool = await create_pool(database_url)
    async with running(_settings(nats_url, database_url, data_dir), discovery=discovery, projector=projector):
        ingestion = await _create_ingestion(store, tenant, data_dir / "landing" / "nope")
        run = await _request_run(store, tenant, ingestion)
        row = await eventually(lambda: _run_row(pool, run, "failed"), what="failed run")
        assert "does not exist" in row["errors"][0]["message"]
        assert await pool.fetchval("SELECT count(*) FROM discovery.ledger") == 0
    await pool.close()


async def _plans_count(store: EventStore, n: int) -> bool:
    return len(await _events(store, ev.BatchPlanned)) >= n


async def _run_row(pool: Any, run_id: str, status: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM read.runs WHERE id = $1", run_id)
    return dict(row.items()) if row and row["status"] == status else None
