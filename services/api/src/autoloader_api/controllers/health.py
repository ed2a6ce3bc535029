"""Public liveness and readiness probes.

Ready means ready: NATS and PostgreSQL answer, and every background service has a fresh
heartbeat saying ``serving`` (its consumer is bound and its request/reply subjects answer), so
the first request that needs a service does not meet a 503 "is it running?".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from autoloader_api.problems import RETRY_AFTER_SECONDS
from autoloader_api.schemas import Readiness
from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import ServiceBeat, read_beats
from autoloader_core.clock import Clock
from autoloader_core.settings import Settings
from autoloader_db.database import Pool

CHECK_TIMEOUT_SECONDS = 2.0
REQUIRED_SERVICES = ("scheduler", "discovery", "loader", "projector")
"""Services that must be serving; the api itself is, since it answers."""
STALE_AFTER_BEATS = 3
OK = "ok"
NOT_READY = {
    503: ResponseSpec(
        Readiness,
        description=(
            "not ready: ``checks`` names what is not (a service down, stale or starting; a server down);"
            " ``Retry-After`` says when to ask again"
        ),
    )
}


@dataclass(frozen=True)
class ReadinessRequirements:
    """The services ``/health/ready`` waits for (tests that run only some services name those)."""

    services: Sequence[str] = REQUIRED_SERVICES


class HealthController(Controller):
    """``/health``: no authentication, for orchestrators and load balancers."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up")
    async def live(self) -> dict[str, str]:
        """Always 200 while the process serves HTTP."""
        return {"status": "ok"}

    @get(
        "/ready",
        summary="NATS, PostgreSQL and every service answer",
        responses=NOT_READY,
    )
    async def ready(
        self,
        *,
        bus: NamedDependency[Bus],
        pool: NamedDependency[Pool],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
        readiness: NamedDependency[ReadinessRequirements],
    ) -> Response[Readiness]:
        """200 when NATS and PostgreSQL answer and every service is serving; else 503 naming what is not.

        The 503 carries ``Retry-After``; ``checks`` holds one entry per check (``ok`` or why
        not) and ``detail`` sums up the failed ones.
        """
        checks = {"nats": OK if bus.nc.is_connected else "down: not connected", "postgres": await _postgres(pool)}
        if checks["nats"] == OK:
            stale_after = settings.heartbeat_seconds * STALE_AFTER_BEATS
            checks |= await _services(bus, readiness.services, now=clock.now(), stale_after=stale_after)
        else:
            checks |= dict.fromkeys(readiness.services, "unknown: NATS is down")
        failed = {name: value for name, value in checks.items() if value != OK}
        if not failed:
            return Response(Readiness(status="ok", checks=checks), status_code=200)
        detail = "not ready: " + "; ".join(f"{name} {value}" for name, value in failed.items())
        return Response(
            Readiness(status="unavailable", checks=checks, detail=detail),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


async def _postgres(pool: Pool) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "not ready"
        return f"down: {type(exc).__name__}"
    return OK


async def _services(bus: Bus, names: Sequence[str], *, now: datetime, stale_after: float) -> dict[str, str]:
    if not names:
        return {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            beats = await read_beats(bus)
    except Exception as exc:  # heartbeats unreadable: no service can be shown serving
        return {name: f"unknown: heartbeats unreadable ({type(exc).__name__})" for name in names}
    return {name: _service_check([b for b in beats if b.service == name], now, stale_after) for name in names}


def _service_check(beats: list[ServiceBeat], now: datetime, stale_after: float) -> str:
    """``ok`` when one instance has a fresh ``serving`` beat, else what the freshest says."""
    fresh = [beat for beat in beats if (now - beat.last_heartbeat).total_seconds() <= stale_after]
    if any(beat.serving for beat in fresh):
        return OK
    if fresh:
        return f"{fresh[0].state}: not serving yet"
    if beats:
        age = min((now - beat.last_heartbeat).total_seconds() for beat in beats)
        return f"stale: last heartbeat {age:.1f}s ago"
    return "down: no heartbeat"
