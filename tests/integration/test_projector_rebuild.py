"""Rebuilding the read models by replay gives exactly the live ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings
from autoloader_db.database import create_pool
from autoloader_projector.app import READ_TABLES, reset
from autoloader_projector.app import body as projector
from tests.support import envelope, eventually, running

pytestmark = pytest.mark.integration


async def _append_history(store: EventStore, tenant: str) -> None:
    config = IngestionConfig(
        name="x",
        source=SourceSpec(type="local", path="/tmp/x"),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="d", table="t"),
    )
    for n in range(3):
        ingestion = new_id("ing")
        seq = await store.append(
            ev.IngestionCreated(**envelope(tenant, ingestion), config=config), expected_version=0
        )
        seq = await store.append(ev.IngestionActivated(**envelope(tenant, ingestion)), expected_version=seq)
        if n == 1:
            await store.append(ev.IngestionPaused(**envelope(tenant, ingestion)), expected_version=seq)
        run, batch = new_id("run"), new_id("bat")
        await store.append(ev.RunRequested(**envelope(tenant, run), ingestion_id=ingestion, trigger="manual"))
        await store.append(ev.RunStarted(**envelope(tenant, run), ingestion_id=ingestion))
        ref = ev.FileRef(path=f"f{n}.csv", size=10, modified_at=envelope(tenant, run)["occurred_at"])
        await store.append(
            ev.BatchPlanned(
                **envelope(tenant, batch),
                ingestion_id=ingestion,
                run_id=run,
                batch_number=1,
                files=[ref],
                source=config.source,
                format=config.format,
                destination=config.destination,
            )
        )
        await store.append(
            ev.BatchLoaded(
                **envelope(tenant, batch),
                ingestion_id=ingestion,
                run_id=run,
                files=[ev.FileResult(path=ref.path, rows=5, bytes=10)],
                rows=5,
                bytes=10,
                snapshot_id=42 + n,
                table="lake.d.t",
                duration_seconds=0.2,
            )
        )
        await store.append(
            ev.RunCompleted(
                **envelope(tenant, run),
                ingestion_id=ingestion,
                status="success",
                metrics=ev.RunMetrics(files_processed=1, records_ingested=5),
                started_at=envelope(tenant, run)["occurred_at"],
                snapshot_ids=[42 + n],
            )
        )


async def _dump(pool: Any) -> dict[str, list[dict[str, Any]]]:
    dump = {}
    for table in READ_TABLES:
        rows = await pool.fetch(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
        dump[table] = sorted((dict(r.items()) for r in rows), key=repr)
    return dump


async def test_rebuilt_read_models_equal_the_live_ones(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path
) -> None:
    store = EventStore(bus)
    pool = await create_pool(database_url)
    settings = Settings(nats_url=nats_url, database_url=database_url, data_dir=tmp_path)
    async with running(settings, projector=projector):
        await _append_history(store, new_id("tnt"))
        last = await store.last_sequence()

        async def caught_up() -> bool:
            return await pool.fetchval("SELECT last_seq FROM read.checkpoints") == last

        await eventually(caught_up, what="live projection")
        live = await _dump(pool)
        assert len(live["read.runs"]) == 3
        assert {r["status"] for r in live["read.ingestions"]} == {"active", "paused"}

        await reset(pool)
        assert (await _dump(pool))["read.runs"] == []
        await eventually(caught_up, what="rebuilt projection")
        assert await _dump(pool) == live
    await pool.close()
