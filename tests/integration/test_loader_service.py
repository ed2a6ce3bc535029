"""The loader service in-process on real NATS + Postgres: events in, Iceberg table and events out, RPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_bus.rpc import call
from autoloader_contracts.events import (
    BatchFailed,
    BatchLoaded,
    BatchPlanned,
    Event,
    FileRef,
    IngestionCreated,
    IngestionDeleted,
)
from autoloader_contracts.ingestion import DestinationSpec, ErrorsSpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_contracts.subjects import rpc_subject
from autoloader_core.errors import NotFoundError, ValidationFailed
from autoloader_core.ids import deterministic_id, new_id
from autoloader_core.settings import Settings
from autoloader_loader.app import body
from tests.support import running

pytestmark = pytest.mark.integration

INFO = rpc_subject("loader", "table_info")
SAMPLE = rpc_subject("loader", "table_sample")
DESTINATION = DestinationSpec(catalog="lake", database="sales", table="orders")


@asynccontextmanager
async def loader(nats_url: str, database_url: str, tmp_path: Path, landing: Path) -> AsyncIterator[None]:
    """Run the loader's service body in-process until the test is done with it."""
    settings = Settings(nats_url=nats_url, database_url=database_url, local_roots=(landing,),
                        warehouse=(tmp_path / "warehouse").as_uri(), heartbeat_seconds=0.5,
                        ack_wait_seconds=10, max_deliver=3)
    async with running(settings, loader=body):
        yield


def write_csv(folder: Path, name: str, ids: range) -> FileRef:
    path = folder / name
    path.write_text("id,city\n" + "".join(f"{i},c{i % 3}\n" for i in ids))
    return FileRef(path=name, size=path.stat().st_size, modified_at=datetime.now(UTC))


def planned(tenant: str, folder: Path, files: list[FileRef], *, batch_id: str | None = None,
            ingestion_id: str = "ing_svc") -> BatchPlanned:
    run_id = new_id("run")
    return BatchPlanned(
        event_id=new_id("evt"), occurred_at=datetime.now(UTC), tenant_id=tenant,
        aggregate_id=batch_id or new_id("bat"), actor="service:discovery", correlation_id=run_id,
        ingestion_id=ingestion_id, run_id=run_id, batch_number=1, files=files,
        source=SourceSpec(type="local", path=str(folder)), format=FormatSpec(type="csv"),
        destination=DESTINATION,
    )


async def wait_for(store: EventStore, tenant: str, batch_id: str,
                   done: Callable[[list[Event]], bool]) -> list[Event]:
    """Poll the batch aggregate until ``done`` holds for its events (10 s at most)."""
    for _ in range(200):
        events = [s.event for s in await store.read(tenant, "batch", batch_id)]
        if done(events):
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never reached the expected state: {events}")


def has(kind: type[Event]) -> Callable[[list[Event]], bool]:
    return lambda events: any(isinstance(e, kind) for e in events)


def table_request(tenant: str, **extra: object) -> dict[str, object]:
    return {"tenant_id": tenant, "catalog": "lake", "database": "sales", "table": "orders", **extra}


async def test_planned_batch_is_loaded_and_the_table_answers_over_rpc(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path, landing: Path
) -> None:
    store, tenant = EventStore(bus), new_id("tnt")
    files = [write_csv(landing, f"part-{i}.csv", range(i * 1000, (i + 1) * 1000)) for i in range(3)]
    batch = planned(tenant, landing, files)
    async with loader(nats_url, database_url, tmp_path, landing):
        with pytest.raises(NotFoundError, match=r"table lake\.sales\.orders does not exist yet: run the"):
            await call(bus, INFO, table_request(tenant))
        await store.append(batch)
        events = await wait_for(store, tenant, batch.aggregate_id, has(BatchLoaded))
        loaded = events[-1]
        assert isinstance(loaded, BatchLoaded)
        assert loaded.event_id == deterministic_id("evt", batch.aggregate_id, "loaded")
        assert (loaded.correlation_id, loaded.causation_id) == (batch.run_id, batch.event_id)
        assert loaded.actor == "service:loader"
        assert (loaded.rows, loaded.table, loaded.already_committed) == (3000, "lake.sales.orders", False)
        assert [(f.path, f.rows) for f in loaded.files] == [(f"part-{i}.csv", 1000) for i in range(3)]
        assert loaded.bytes == sum(f.size for f in files)

        info = await call(bus, INFO, table_request(tenant))
        assert info["identifier"] == "lake.sales.orders"
        assert info["row_count"] == 3000
        assert [(c["name"], c["type"], c["required"]) for c in info["schema"]] == [
            ("id", "long", False), ("city", "string", False), ("_source_file", "string", False),
            ("_source_modified_at", "timestamptz", False), ("_ingest_run_id", "string", False),
            ("_ingested_at", "timestamptz", False)]
        assert info["format_version"] == 2
        [snapshot] = info["snapshots"]
        assert snapshot["snapshot_id"] == loaded.snapshot_id
        assert snapshot["operation"] == "append"
        assert snapshot["summary"]["autoloader.batch-id"] == batch.aggregate_id
        assert datetime.fromisoformat(snapshot["timestamp"]).tzinfo is not None

        sample = await call(bus, SAMPLE, table_request(tenant, limit=5, columns=["id"]))
        assert len(sample["rows"]) == 5
        assert all(set(row) == {"id"} and isinstance(row["id"], int) for row in sample["rows"])
        with pytest.raises(ValidationFailed, match="unknown column 'price'"):
            await call(bus, SAMPLE, table_request(tenant, limit=5, columns=["price"]))
        with pytest.raises(ValidationFailed, match="limit"):
            await call(bus, SAMPLE, table_request(tenant, limit=0))


async def test_a_redelivered_batch_is_not_written_twice(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path, landing: Path
) -> None:
    store, tenant = EventStore(bus), new_id("tnt")
    batch = planned(tenant, landing, [write_csv(landing, "a.csv", range(100))])
    async with loader(nats_url, database_url, tmp_path, landing):
        await store.append(batch)
        await wait_for(store, tenant, batch.aggregate_id, has(BatchLoaded))
        # The same batch planned again (as after a discovery retry): a new message, the same batch id.
        again = planned(tenant, landing, batch.files, batch_id=batch.aggregate_id)
        await store.append(again)
        second = planned(tenant, landing, [write_csv(landing, "b.csv", range(100, 150))])
        await store.append(second)
        await wait_for(store, tenant, second.aggregate_id, has(BatchLoaded))
        events = [s.event for s in await store.read(tenant, "batch", batch.aggregate_id)]
        info = await call(bus, INFO, table_request(tenant))
    assert [type(e).__name__ for e in events] == ["BatchPlanned", "BatchLoaded", "BatchPlanned"]
    assert info["row_count"] == 150
    assert len(info["snapshots"]) == 2


async def test_a_corrupt_file_fails_the_batch_with_a_clear_error(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path, landing: Path
) -> None:
    store, tenant = EventStore(bus), new_id("tnt")
    good = write_csv(landing, "good.csv", range(10))
    (landing / "empty.csv").write_bytes(b"")
    empty = FileRef(path="empty.csv", size=0, modified_at=datetime.now(UTC))
    batch = msgspec.structs.replace(planned(tenant, landing, [good, empty]), errors=ErrorsSpec(on_error="fail_run"))
    async with loader(nats_url, database_url, tmp_path, landing):
        await store.append(batch)
        events = await wait_for(store, tenant, batch.aggregate_id, has(BatchFailed))
        with pytest.raises(NotFoundError):
            await call(bus, INFO, table_request(tenant))
    failed = events[-1]
    assert isinstance(failed, BatchFailed)
    assert failed.event_id == deterministic_id("evt", batch.aggregate_id, "failed")
    assert failed.paths == ["good.csv", "empty.csv"]
    assert failed.error.file == "empty.csv"
    assert failed.error.error_type == "file_error"
    assert failed.error.message.startswith("empty.csv: cannot read as csv: the file is empty")
    assert failed.attempts == 1


async def test_deleting_an_ingestion_with_its_table_drops_the_table(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path, landing: Path
) -> None:
    store, tenant, ingestion = EventStore(bus), new_id("tnt"), new_id("ing")
    config = IngestionConfig(name="orders", source=SourceSpec(type="local", path=str(landing)),
                             format=FormatSpec(type="csv"), destination=DESTINATION)
    envelope = {"occurred_at": datetime.now(UTC), "tenant_id": tenant, "aggregate_id": ingestion,
                "actor": "key:test", "correlation_id": new_id("cor")}
    await store.append(IngestionCreated(event_id=new_id("evt"), config=config, **envelope))  # type: ignore[arg-type]
    batch = planned(tenant, landing, [write_csv(landing, "a.csv", range(5))], ingestion_id=ingestion)
    async with loader(nats_url, database_url, tmp_path, landing):
        await store.append(batch)
        await wait_for(store, tenant, batch.aggregate_id, has(BatchLoaded))
        assert (await call(bus, INFO, table_request(tenant)))["row_count"] == 5
        await store.append(IngestionDeleted(event_id=new_id("evt"), delete_table=True, **envelope))  # type: ignore[arg-type]
        for _ in range(200):
            try:
                await call(bus, INFO, table_request(tenant))
            except NotFoundError:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the table was not dropped")
