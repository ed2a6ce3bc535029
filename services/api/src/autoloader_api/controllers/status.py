"""Which services are alive (heartbeats), which messages were given up (dead letters), which runs are stuck."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from autoloader_api.schemas import DeadLetterOut, DeadLettersOut, ServiceStatus, StatusOut, StuckRun
from autoloader_bus.connection import Bus
from autoloader_bus.deadletter import read_dead_letters
from autoloader_bus.heartbeat import ServiceBeat, read_beats
from autoloader_core.clock import Clock
from autoloader_core.settings import Settings
from autoloader_db.database import Pool

STALE_AFTER_BEATS = 3
LISTED = 20


class StatusController(Controller):
    """``/api/v1/status``."""

    path = "/status"
    tags = ["operations"]

    @get("/", summary="Live service instances, dead letters and stuck runs")
    async def status(
        self,
        *,
        bus: NamedDependency[Bus],
        pool: NamedDependency[Pool],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
    ) -> StatusOut:
        """List service instances (one that missed several beats is ``stale``), the newest dead letters, stuck runs."""
        now = clock.now()
        return StatusOut(
            services=await _services(bus, now, settings),
            dead_letters=await _dead_letters(bus),
            stuck_runs=await _stuck_runs(pool, now, settings.stuck_run_seconds),
        )


async def _services(bus: Bus, now: datetime, settings: Settings) -> list[ServiceStatus]:
    stale_after = settings.heartbeat_seconds * STALE_AFTER_BEATS
    services = []
    for beat in await read_beats(bus):
        age = max(0.0, (now - beat.last_heartbeat).total_seconds())
        services.append(
            ServiceStatus(
                service=beat.service,
                instance=beat.instance,
                pid=beat.pid,
                started_at=beat.started_at,
                last_heartbeat=beat.last_heartbeat,
                age_seconds=round(age, 3),
                status=_status(beat, stale=age > stale_after),
                state=beat.state,
            )
        )
    return services


async def _dead_letters(bus: Bus) -> DeadLettersOut:
    summary = await read_dead_letters(bus, limit=LISTED)
    latest = [msgspec.convert(msgspec.to_builtins(letter), DeadLetterOut) for letter in summary.latest]
    return DeadLettersOut(total=summary.total, latest=latest)


async def _stuck_runs(pool: Pool, now: datetime, stuck_after: float) -> list[StuckRun]:
    """Runs running for longer than ``stuck_after`` seconds (the watchdog settles those nothing can finish)."""
    rows = await pool.fetch(
        """SELECT id, tenant_id, ingestion_id, started_at FROM read.runs
           WHERE status = 'running' AND started_at < $1 ORDER BY started_at LIMIT $2""",
        now - timedelta(seconds=stuck_after),
        LISTED,
    )
    return [
        StuckRun(
            run_id=r["id"],
            tenant_id=r["tenant_id"],
            ingestion_id=r["ingestion_id"],
            started_at=r["started_at"],
            running_seconds=round((now - r["started_at"]).total_seconds(), 3),
        )
        for r in rows
    ]


def _status(beat: ServiceBeat, *, stale: bool) -> str:
    """``ready`` (serving), ``starting``, or ``stale`` (missed several beats)."""
    if stale:
        return "stale"
    return "ready" if beat.serving else "starting"
