"""Monitoring: per-ingestion metrics and events, tenant dashboard and alerts."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from autoloader_api.monitoring import Monitoring
from autoloader_api.monitoring_schemas import AlertPage, Dashboard, EventPage, IngestionMetrics
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.tenants import Caller
from autoloader_core.clock import Clock


class IngestionMonitoringController(Controller):
    """``/ingestions/{id}/metrics`` and ``/ingestions/{id}/events``."""

    path = "/ingestions/{ingestion_id:str}"
    tags = ["monitoring"]

    @get("/metrics", summary="Runs, files, rows, bytes, durations and cost per day")
    async def metrics(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        monitoring: NamedDependency[Monitoring],
        clock: NamedDependency[Clock],
        ingestion_id: FromPath[str],
        days: Annotated[int, bounded(1, 90, "UTC days, today included")] = 7,
    ) -> IngestionMetrics:
        """The runs that ended in the last ``days`` UTC days (1..90), today included."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        return await monitoring.metrics(caller.tenant_id, ingestion_id, days=days, now=clock.now())

    @get("/events", summary="The ingestion's event history (audit trail), newest first")
    async def events(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        monitoring: NamedDependency[Monitoring],
        ingestion_id: FromPath[str],
        limit: Annotated[int, bounded(1, 500, "page size")] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> EventPage:
        """Its own events and its runs', each with who caused it; never a secret."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        return await monitoring.events(caller.tenant_id, ingestion_id, limit=limit, cursor=cursor)


class TenantMonitoringController(Controller):
    """``/dashboard`` and ``/alerts``."""

    tags = ["monitoring"]

    @get("/dashboard", summary="Tenant totals: ingestions, the last 24 hours, cost this month, alerts")
    async def dashboard(
        self,
        *,
        caller: NamedDependency[Caller],
        monitoring: NamedDependency[Monitoring],
        clock: NamedDependency[Clock],
    ) -> Dashboard:
        """Also the ingestions that need attention (in error, last run failed, an active alert)."""
        return await monitoring.dashboard(caller.tenant_id, now=clock.now())

    @get("/alerts", summary="Alerts, newest first")
    async def alerts(
        self,
        *,
        caller: NamedDependency[Caller],
        monitoring: NamedDependency[Monitoring],
        alert_status: Annotated[str | None, QueryParameter(name="status")] = None,
        ingestion_id: FromQuery[str | None] = None,
        limit: Annotated[int, bounded(1, 500, "page size")] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> AlertPage:
        """Filter by ``status`` (active | cleared) and ``ingestion_id``."""
        return await monitoring.alerts(
            caller.tenant_id, status=alert_status, ingestion_id=ingestion_id, limit=limit, cursor=cursor
        )
