"""Discovery composition root."""

from __future__ import annotations

from autoloader_bus.consumer import ConsumerSpec, consume
from autoloader_bus.event_store import EventStore
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.events import BatchFailed, BatchLoaded, RunRequested
from autoloader_contracts.subjects import events_of
from autoloader_core.clock import SystemClock
from autoloader_db.database import create_pool
from autoloader_discovery.handlers import Discovery
from autoloader_discovery.ledger import Ledger


async def body(runtime: ServiceRuntime) -> None:
    """Service body: consume run requests and batch outcomes until stopped."""
    settings = runtime.settings
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        discovery = Discovery(
            store=EventStore(runtime.bus),
            ledger=Ledger(pool),
            clock=SystemClock(),
            allowed_roots=settings.allowed_roots,
            batch_max_files=settings.batch_max_files,
            batch_max_bytes=settings.batch_max_bytes,
        )
        spec = ConsumerSpec(
            durable="discovery",
            filter_subjects=[events_of(RunRequested), events_of(BatchLoaded), events_of(BatchFailed)],
            ack_wait_seconds=settings.ack_wait_seconds,
            max_deliver=settings.max_deliver,
        )
        runtime.ready()
        await consume(runtime.bus, spec, discovery.handle, runtime.stop)
    finally:
        await pool.close()
