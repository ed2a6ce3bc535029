"""Public liveness and readiness probes."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from autoloader_api.schemas import Readiness
from autoloader_bus.connection import Bus
from autoloader_db.database import Pool

CHECK_TIMEOUT_SECONDS = 2.0


class HealthController(Controller):
    """``/health``: no authentication, for orchestrators and load balancers."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up")
    async def live(self) -> dict[str, str]:
        """Always 200 while the process serves HTTP."""
        return {"status": "ok"}

    @get("/ready", summary="NATS and PostgreSQL answer")
    async def ready(self, *, bus: NamedDependency[Bus], pool: NamedDependency[Pool]) -> Response[Readiness]:
        """200 when NATS is connected and PostgreSQL answers, else 503 naming what is down."""
        checks = {
            "nats": "ok" if bus.nc.is_connected else "down: not connected",
            "postgres": await _postgres(pool),
        }
        healthy = all(value == "ok" for value in checks.values())
        return Response(
            Readiness(status="ok" if healthy else "unavailable", checks=checks),
            status_code=200 if healthy else 503,
        )


async def _postgres(pool: Pool) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "not ready"
        return f"down: {type(exc).__name__}"
    return "ok"
