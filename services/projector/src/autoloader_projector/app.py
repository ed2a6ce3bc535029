"""Projector composition root: follows the whole event log into the Postgres read models.

Exactly-once on at-least-once delivery: each batch of events is applied in one transaction
together with the checkpoint (the last applied stream sequence). The checkpoint row is the
projector's only position; resetting it to 0 (``rebuild``) makes the running projector replay
the log from the start into emptied tables.
"""

from __future__ import annotations

import logging

from autoloader_bus.connection import is_unavailable
from autoloader_bus.event_store import StoredEvent
from autoloader_bus.follow import follow
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.subjects import ALL_EVENTS
from autoloader_core.backoff import Backoff, sleep_or_stop
from autoloader_core.errors import TransientError
from autoloader_core.telemetry import process_telemetry
from autoloader_core.tracing import SpanKind, extracted, span
from autoloader_db.database import Connection, Pool, close_pool, create_pool
from autoloader_projector.metrics import count_events
from autoloader_projector.projections import PROJECTIONS, audit

log = logging.getLogger(__name__)

PROJECTION = "read_models"
READ_TABLES = (
    "read.files",
    "read.runs",
    "read.ingestions",
    "read.schema_versions",
    "read.clusters",
    "read.catalogs",
    "read.daily_run_stats",
    "read.alerts",
    "read.ingestion_events",
)
RETRY_CAP_SECONDS = 10.0


class PositionMoved(Exception):
    """The checkpoint changed under us (a rebuild reset it): follow again from it."""


async def checkpoint(conn: Connection) -> int:
    """Return the last applied sequence (creating the row at 0)."""
    await conn.execute(
        "INSERT INTO read.checkpoints (projection, last_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        PROJECTION,
    )
    return int(await conn.fetchval("SELECT last_seq FROM read.checkpoints WHERE projection = $1", PROJECTION))


async def apply_batch(pool: Pool, batch: list[StoredEvent], position: int) -> int:
    """Apply ``batch`` atomically with the checkpoint; return the new position.

    Raises:
        PositionMoved: The stored checkpoint is not ``position`` any more.
    """
    async with pool.acquire() as conn, conn.transaction():
        stored = await conn.fetchval(
            "SELECT last_seq FROM read.checkpoints WHERE projection = $1 FOR UPDATE", PROJECTION
        )
        if stored != position:
            raise PositionMoved
        for item in batch:
            if item.seq <= position:
                continue
            with span(f"project {type(item.event).__name__}", kind=SpanKind.CONSUMER, parent=extracted(item.trace)):
                handler = PROJECTIONS.get(type(item.event))
                if handler is not None:
                    await handler(conn, item.event, item.seq)
                await audit(conn, item.event, item.seq)
            position = item.seq
        await conn.execute(
            "UPDATE read.checkpoints SET last_seq = $2 WHERE projection = $1", PROJECTION, position
        )
    return position


async def _check_position(pool: Pool, position: int) -> None:
    async with pool.acquire() as conn:
        if await checkpoint(conn) != position:
            raise PositionMoved


async def reset(pool: Pool) -> None:
    """Empty the read models and set the checkpoint to 0 (the projector then replays everything)."""
    async with pool.acquire() as conn, conn.transaction():
        await checkpoint(conn)
        await conn.execute(
            "SELECT last_seq FROM read.checkpoints WHERE projection = $1 FOR UPDATE", PROJECTION
        )
        await conn.execute(f"TRUNCATE {', '.join(READ_TABLES)}")
        await conn.execute("UPDATE read.checkpoints SET last_seq = 0 WHERE projection = $1", PROJECTION)


async def project_forever(runtime: ServiceRuntime, pool: Pool) -> None:
    """Follow the log from the checkpoint, re-following after a reset or an error.

    PostgreSQL or NATS going away is an error like any other here: the projector waits with
    backoff and follows again from the stored checkpoint (the pool reopens connections), so a
    server restart loses and doubles nothing.
    """
    backoff = Backoff(initial=0.5, cap=RETRY_CAP_SECONDS)
    instruments = process_telemetry(runtime.name).instruments
    while not runtime.stop.is_set():
        try:
            async with pool.acquire() as conn:
                position = await checkpoint(conn)
            following = follow(runtime.bus, [ALL_EVENTS], after=position, stop=runtime.stop, reader="projector")
            async for batch in following:
                if batch:
                    applied_through = position
                    position = await apply_batch(pool, batch, position)
                    # Counted once committed: a batch retried after a failure is counted once.
                    count_events(batch, instruments, after=applied_through)
                else:
                    await _check_position(pool, position)
                backoff.reset()
        except PositionMoved:
            log.info("checkpoint moved (rebuild); following again from it")
        except Exception as exc:
            delay = backoff.next_delay()
            if isinstance(exc, TransientError) or is_unavailable(exc):
                log.warning("projection paused: a server is unavailable; retrying from the checkpoint",
                            extra={"error": str(exc), "retry_in": delay})
            else:
                log.exception("projection failed; retrying from the checkpoint", extra={"retry_in": delay})
            await sleep_or_stop(runtime.stop, delay)


async def body(runtime: ServiceRuntime) -> None:
    """Service body: project until stopped."""
    url = runtime.settings.database_url
    pool = await runtime.wait_for("PostgreSQL", lambda: create_pool(url, max_size=4))
    try:
        async with pool.acquire() as conn:
            await checkpoint(conn)
        runtime.ready()
        await project_forever(runtime, pool)
    finally:
        await close_pool(pool)
