"""Discovery composition root: builds the ledger, scanner, costing and alerts, and serves the consumer and RPC."""

from __future__ import annotations

import asyncio

from autoloader_bus.connection import Bus
from autoloader_bus.consumer import ConsumerSpec, consume, done_through, until_bound
from autoloader_bus.event_store import EventStore
from autoloader_bus.rpc import call_typed, serve, unsubscribe_all
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.rpc import (
    SELECT_FILES,
    SETTLE_BATCH,
    SelectFilesRequest,
    SettleBatchReply,
    SettleBatchRequest,
)
from autoloader_contracts.subjects import DISCOVERY_CONSUMER, LOADER_CONSUMER, events_of
from autoloader_core.clock import clock_for
from autoloader_core.crypto import SecretBox
from autoloader_core.settings import Settings
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import Pool, close_pool, create_pool
from autoloader_discovery.alerts import AlertBook, AlertMonitor
from autoloader_discovery.costs import RunCosting
from autoloader_discovery.handlers import Discovery
from autoloader_discovery.ledger import Baselines, Ledger, ListingState
from autoloader_discovery.previews import FileSelection
from autoloader_discovery.scanning import Scanner
from autoloader_discovery.watchdog import RunWatchdog

SERVICE = "discovery"


def build_discovery(settings: Settings, *, store: EventStore, pool: Pool) -> tuple[Discovery, FileSelection]:
    """The discovery use cases and the file-selection RPC on real adapters."""
    clock = clock_for(settings.clock_scale)
    credentials = CredentialStore(pool, SecretBox.from_settings(settings))
    ledger = Ledger(pool)
    scanner = Scanner(
        ledger=ledger,
        listing_state=ListingState(pool),
        credentials=credentials.resolve,
        allowed_roots=settings.allowed_roots,
    )
    discovery = Discovery(
        store=store,
        ledger=ledger,
        scanner=scanner,
        clock=clock,
        costing=RunCosting(store=store, ledger=ledger),
        alerts=AlertMonitor(store=store, book=AlertBook(pool), clock=clock),
        baselines=Baselines(pool),
        batch_max_files=settings.batch_max_files,
        batch_max_bytes=settings.batch_max_bytes,
    )
    return discovery, FileSelection(scanner=scanner, open_sealed=credentials.open_transient, clock=clock)


async def body(runtime: ServiceRuntime) -> None:
    """Service body: consume run requests, activations and batch outcomes until stopped."""
    settings = runtime.settings
    pool = await runtime.wait_for("PostgreSQL", lambda: create_pool(settings.database_url, max_size=4))
    try:
        discovery, selection = build_discovery(settings, store=EventStore(runtime.bus), pool=pool)
        subscription = await serve(
            runtime.bus, SELECT_FILES, selection.select_files, queue=SERVICE, request_type=SelectFilesRequest
        )
        watcher = asyncio.create_task(discovery.alerts.watch_forever(runtime.stop))
        watchdog = build_watchdog(settings, discovery=discovery, bus=runtime.bus, pool=pool)
        guard = asyncio.create_task(watchdog.watch_forever(runtime.stop, interval=settings.run_watchdog_seconds))
        bound = asyncio.Event()
        consumer = asyncio.create_task(
            consume(
                runtime.bus,
                consumer_spec(settings),
                discovery.handle,
                runtime.stop,
                give_up=discovery.give_up,
                bound=bound,
            )
        )
        try:
            # Serving means consuming: report it only once the durable consumer is bound.
            if await until_bound(bound, consumer):
                runtime.ready()
            await consumer
        finally:
            watcher.cancel()
            guard.cancel()
            consumer.cancel()
            await unsubscribe_all([subscription])
    finally:
        await close_pool(pool)


def build_watchdog(settings: Settings, *, discovery: Discovery, bus: Bus, pool: Pool) -> RunWatchdog:
    """The run watchdog on the real consumers and the loader's settle-batch call."""

    async def progress(durable: str) -> int:
        return await done_through(bus, durable)

    async def settle(tenant_id: str, batch_id: str, reason: str) -> str:
        request = SettleBatchRequest(tenant_id=tenant_id, batch_id=batch_id, reason=reason)
        reply = await call_typed(bus, SETTLE_BATCH, request, SettleBatchReply)
        return reply.outcome

    return RunWatchdog(
        discovery=discovery,
        ledger=Ledger(pool),
        store=EventStore(bus),
        progress=progress,
        settle_batch=settle,
        clock=clock_for(settings.clock_scale),
        consumers=(LOADER_CONSUMER, DISCOVERY_CONSUMER),
        grace_seconds=settings.run_watchdog_seconds,
    )


def consumer_spec(settings: Settings) -> ConsumerSpec:
    """Discovery's durable consumer."""
    return ConsumerSpec(
        durable=DISCOVERY_CONSUMER,
        filter_subjects=[events_of(event_type) for event_type in Discovery.subscribed_types()],
        ack_wait_seconds=settings.ack_wait_seconds,
        max_deliver=settings.max_deliver,
    )
