"""Schema version numbers under optimistic concurrency: two loaders recording changes at once never collide."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import BatchPlanned, ColumnChange, SchemaChange, SchemaChangeDetected
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SourceSpec
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings
from autoloader_loader.engine import DetectedChange
from autoloader_loader.handlers import LoaderHandlers
from autoloader_loader.staging import Stager

pytestmark = pytest.mark.integration

TENANT = "ten_versions"
CHANGES_PER_LOADER = 6


@pytest.fixture
async def second_bus(nats_url: str) -> AsyncIterator[Bus]:
    """Another connection: the second loader process."""
    connected = await Bus.connect(nats_url, stream="AUTOLOADER", name="loader-2")
    try:
        yield connected
    finally:
        await connected.close()


def _loader(bus: Bus, tmp_path: Path) -> LoaderHandlers:
    # Recording a schema change touches only the event log: no engine is needed.
    stager = Stager(scratch_root=tmp_path, credentials=None, allowed_roots=(tmp_path,))  # type: ignore[arg-type]
    return LoaderHandlers(engine=None, store=EventStore(bus), settings=Settings(), stager=stager)  # type: ignore[arg-type]


def _planned(ingestion_id: str) -> BatchPlanned:
    run_id = new_id("run")
    return BatchPlanned(
        event_id=new_id("evt"), occurred_at=datetime.now(UTC), tenant_id=TENANT, aggregate_id=new_id("bat"),
        actor="service:discovery", correlation_id=run_id, ingestion_id=ingestion_id, run_id=run_id,
        batch_number=1, files=[], source=SourceSpec(type="local", path="/x"), format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="sales", table="orders"),
    )


def _change(column: str) -> DetectedChange:
    return DetectedChange(SchemaChange(added=[ColumnChange(name=column, new_type="string")]), "fail", "pending")


async def test_two_loaders_recording_changes_at_once_get_distinct_consecutive_versions(
    bus: Bus, second_bus: Bus, tmp_path: Path
) -> None:
    ingestion = new_id("ing")
    loaders = [_loader(bus, tmp_path), _loader(second_bus, tmp_path)]
    await asyncio.gather(
        *(
            loader.record_schema_change(_planned(ingestion), _change(f"c{n}_{i}"))
            for n, loader in enumerate(loaders)
            for i in range(CHANGES_PER_LOADER)
        )
    )
    history = await EventStore(bus).read(TENANT, "ingestion", ingestion)
    versions = [s.event.version for s in history if isinstance(s.event, SchemaChangeDetected)]
    assert sorted(versions) == list(range(1, 2 * CHANGES_PER_LOADER + 1))
    assert versions == sorted(versions)  # numbered in log order


async def test_a_redelivered_change_adds_no_version(bus: Bus, tmp_path: Path) -> None:
    ingestion = new_id("ing")
    loader = _loader(bus, tmp_path)
    planned = _planned(ingestion)
    await loader.record_schema_change(planned, _change("note"))
    await loader.record_schema_change(planned, _change("note"))
    await loader.record_schema_change(_planned(ingestion), _change("other"))
    history = await EventStore(bus).read(TENANT, "ingestion", ingestion)
    assert [s.event.version for s in history if isinstance(s.event, SchemaChangeDetected)] == [1, 2]
