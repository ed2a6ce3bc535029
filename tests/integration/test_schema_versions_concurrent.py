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
from autoloader_core.crypto import SecretBox
from autoloader_core.ids import new_id
from autoloader_core.settings import Secret, Settings
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import Pool
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import DetectedChange
from autoloader_loader.handlers import LoaderHandlers
from autoloader_loader.staging import Stager
from tests.discovery_support import SECRET_KEYS

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


def _loader(bus: Bus, pool: Pool, tmp_path: Path) -> LoaderHandlers:
    """A loader's handlers on real parts: the embedded engine, a credential store, the event log."""
    settings = Settings(data_dir=tmp_path, secret_keys=Secret(SECRET_KEYS))
    credentials = CredentialStore(pool, SecretBox.from_settings(settings)).resolve
    stager = Stager(scratch_root=tmp_path / "staging", credentials=credentials, allowed_roots=(tmp_path,))
    return LoaderHandlers(engine=EmbeddedEngine(settings), store=EventStore(bus), settings=settings, stager=stager)


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
    bus: Bus, second_bus: Bus, pool: Pool, tmp_path: Path
) -> None:
    ingestion = new_id("ing")
    loaders = [_loader(bus, pool, tmp_path), _loader(second_bus, pool, tmp_path)]
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


async def test_a_redelivered_change_adds_no_version(bus: Bus, pool: Pool, tmp_path: Path) -> None:
    ingestion = new_id("ing")
    loader = _loader(bus, pool, tmp_path)
    planned = _planned(ingestion)
    await loader.record_schema_change(planned, _change("note"))
    await loader.record_schema_change(planned, _change("note"))
    await loader.record_schema_change(_planned(ingestion), _change("other"))
    history = await EventStore(bus).read(TENANT, "ingestion", ingestion)
    assert [s.event.version for s in history if isinstance(s.event, SchemaChangeDetected)] == [1, 2]
