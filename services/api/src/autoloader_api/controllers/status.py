"""Which services are alive, from their heartbeats."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from autoloader_api.schemas import ServiceStatus, StatusOut
from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import ServiceBeat, read_beats
from autoloader_core.clock import Clock
from autoloader_core.settings import Settings

STALE_AFTER_BEATS = 3


class StatusController(Controller):
    """``/api/v1/status``."""

    path = "/status"
    tags = ["operations"]

    @get("/", summary="Every live service instance with its last heartbeat")
    async def status(
        self, *, bus: NamedDependency[Bus], clock: NamedDependency[Clock], settings: NamedDependency[Settings]
    ) -> StatusOut:
        """List service instances; one that missed several beats is reported ``stale``."""
        now = clock.now()
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
        return StatusOut(services=services)


def _status(beat: ServiceBeat, *, stale: bool) -> str:
    """``ready`` (serving), ``starting``, or ``stale`` (missed several beats)."""
    if stale:
        return "stale"
    return "ready" if beat.serving else "starting"
