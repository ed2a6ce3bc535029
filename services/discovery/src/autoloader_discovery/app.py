"""Discovery composition root."""

from __future__ import annotations

from autoloader_bus.consumer import ConsumerSpec, consume
from autoloader_bus.event_store import EventStore
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.events import (
    BatchFailed,
    BatchLoaded,
    IngestionActivated,
    IngestionCreated,
    RunRequested,
    SchemaChangeResolved,
)
from autoloader_contracts.subjects import events_of
from autoloader_core.clock import SystemClock
from autoloader_core.crypto import SecretBox
from autoloader_core.settings import Settings
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import create_pool
from autoloader_discovery.handlers import Discovery
from autoloader_discovery.ledger import Ledger, ListingState
from autoloader_discovery.scanning import Scanner


async def body(runtime: ServiceRuntime) -> None:
    """Service body: consume run requests, activations and batch outcomes until stopped."""
    settings = runtime.settings
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        ledger = Ledger(pool)
        scanner = Scanner(
            ledger=ledger,
            listing_state=ListingState(pool),
            credentials=CredentialStore(pool, SecretBox.from_settings(settings)).resolve,
            allowed_roots=settings.allowed_roots,
        )
        discovery = Discovery(
            store=EventStore(runtime.bus),
            ledger=ledger,
            scanner=scanner,
            clock=SystemClock(),
            batch_max_files=settings.batch_max_files,
            batch_max_bytes=settings.batch_max_bytes,
        )
        runtime.ready()
        await consume(runtime.bus, consumer_spec(settings), discovery.handle, runtime.stop)
    finally:
        await pool.close()


def consumer_spec(settings: Settings) -> ConsumerSpec:
    """Discovery's durable consumer."""
    return ConsumerSpec(
        durable="discovery",
        filter_subjects=[
            events_of(RunRequested),
            events_of(BatchLoaded),
            events_of(BatchFailed),
            events_of(IngestionCreated),
            events_of(IngestionActivated),
            events_of(SchemaChangeResolved),
        ],
        ack_wait_seconds=settings.ack_wait_seconds,
        max_deliver=settings.max_deliver,
    )
