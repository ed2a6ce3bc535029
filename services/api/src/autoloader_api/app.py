"""Composition root of the api service: builds the adapters and the Litestar app, and serves it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from autoloader_api.auth import SECURITY_SCHEME, admin_guard, provide_caller
from autoloader_api.catalog_commands import CatalogCommands
from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.commands import IngestionCommands
from autoloader_api.controllers.admin import AdminController
from autoloader_api.controllers.capabilities import CapabilitiesController
from autoloader_api.controllers.catalogs import CatalogController
from autoloader_api.controllers.clusters import ClusterController
from autoloader_api.controllers.health import REQUIRED_SERVICES, HealthController, ReadinessRequirements
from autoloader_api.controllers.ingestions import IngestionController
from autoloader_api.controllers.metrics import MetricsController
from autoloader_api.controllers.monitoring import IngestionMonitoringController, TenantMonitoringController
from autoloader_api.controllers.operations import RunControlController
from autoloader_api.controllers.previews import PreviewController
from autoloader_api.controllers.runs import RunController
from autoloader_api.controllers.schedules import ScheduleController
from autoloader_api.controllers.schema_versions import SchemaVersionController
from autoloader_api.controllers.status import StatusController
from autoloader_api.controllers.tables import TableController
from autoloader_api.controllers.ui import index, ui_router
from autoloader_api.costing import CostEstimator
from autoloader_api.credentials import SourceCredentials
from autoloader_api.http_metrics import RequestMetrics
from autoloader_api.http_tracing import RequestTracing
from autoloader_api.loader_gateway import PreviewGateway, TableGateway
from autoloader_api.local_folders import LocalFolders
from autoloader_api.monitoring import Monitoring
from autoloader_api.presenter import IngestionPresenter
from autoloader_api.previewing import Previewer
from autoloader_api.problems import document_problems, problem_response
from autoloader_api.queries import ReadModels
from autoloader_api.rate_limit import TokenBuckets
from autoloader_api.request_checks import reject_nul_characters
from autoloader_api.run_control import RunControl
from autoloader_api.tenants import TenantStore
from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_bus.runtime import ServiceRuntime
from autoloader_core.clock import Clock, SystemClock
from autoloader_core.crypto import SecretBox
from autoloader_core.settings import Settings
from autoloader_core.telemetry import Telemetry, process_telemetry
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import Pool, close_pool, create_pool

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    *,
    bus: Bus,
    pool: Pool,
    clock: Clock | None = None,
    projection_timeout: float = 5.0,
    rpc_timeout: float = 30.0,
    ready_services: Sequence[str] = REQUIRED_SERVICES,
    rate_limits: TokenBuckets | None = None,
    telemetry: Telemetry | None = None,
) -> Litestar:
    """Build the HTTP app on the given adapters (tests pass their own real servers' adapters).

    Args:
        settings: Service settings (admin token, secret keys, allowed local roots, heartbeat interval).
        bus: Connected NATS bus with the event stream.
        pool: PostgreSQL pool of the migrated database.
        clock: Source of "now" (defaults to the system clock).
        projection_timeout: Longest wait for the read models to show a write before answering.
        rpc_timeout: Longest wait for the loader to answer table questions.
        ready_services: Services ``/health/ready`` requires serving (tests running a few name those).
        rate_limits: Per-tenant request buckets (default: built from the settings' rate limit).
        telemetry: Where request latency is recorded and ``/metrics`` reads (default: the process's).
    """
    clock = clock or SystemClock()
    telemetry = telemetry or process_telemetry("api")
    reads = ReadModels(pool)
    credential_store = CredentialStore(pool, SecretBox.from_settings(settings))
    source_credentials = SourceCredentials(credential_store)
    store = EventStore(bus)
    clusters = ClusterCommands(
        store=store, reads=reads, clock=clock, tokens=credential_store, projection_timeout=projection_timeout
    )
    folders = LocalFolders(pool)
    commands = IngestionCommands(
        store=store,
        reads=reads,
        clock=clock,
        allowed_roots=settings.allowed_roots,
        projection_timeout=projection_timeout,
        credentials=source_credentials,
        clusters=clusters,
        folders=folders,
    )
    costs = CostEstimator(
        clusters=clusters,
        reads=reads,
        clock=clock,
        batch_max_files=settings.batch_max_files,
        batch_max_bytes=settings.batch_max_bytes,
    )
    monitoring = Monitoring(pool)
    previews = PreviewGateway(bus)
    adapters: dict[str, Any] = {
        "settings": settings,
        "bus": bus,
        "pool": pool,
        "clock": clock,
        "readiness": ReadinessRequirements(tuple(ready_services)),
        "telemetry": telemetry,
        "reads": reads,
        "tenants": TenantStore(pool),
        "rate_limits": rate_limits
        or TokenBuckets(rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst),
        "folders": folders,
        "tables": TableGateway(bus, timeout=rpc_timeout),
        "source_credentials": source_credentials,
        "clusters": clusters,
        "catalogs": CatalogCommands(
            store=store,
            reads=reads,
            clock=clock,
            credentials=credential_store,
            projection_timeout=projection_timeout,
        ),
        "commands": commands,
        "costs": costs,
        "monitoring": monitoring,
        "presenter": IngestionPresenter(
            reads=reads, credentials=source_credentials, costs=costs, monitoring=monitoring, clock=clock
        ),
        "previewer": Previewer(commands=commands, gateway=previews, credentials=source_credentials, costs=costs),
        "control": RunControl(
            commands=commands,
            store=store,
            reads=reads,
            gateway=previews,
            costs=costs,
            clock=clock,
            projection_timeout=projection_timeout,
        ),
    }
    dependencies = {name: _constant(value) for name, value in adapters.items()}
    admin = Router(
        API_PREFIX,
        route_handlers=[AdminController, StatusController],
        guards=[admin_guard(settings.admin_token)],
        security=[{SECURITY_SCHEME: []}],
    )
    tenant_api = Router(
        API_PREFIX,
        route_handlers=[
            IngestionController,
            PreviewController,
            ScheduleController,
            CapabilitiesController,
            RunControlController,
            IngestionMonitoringController,
            TenantMonitoringController,
            RunController,
            SchemaVersionController,
            TableController,
            ClusterController,
            CatalogController,
        ],
        dependencies={"caller": Provide(provide_caller)},
        security=[{SECURITY_SCHEME: []}],
    )
    app = Litestar(
        route_handlers=[HealthController, MetricsController, admin, tenant_api, index, ui_router()],
        dependencies=dependencies,
        middleware=[RequestTracing(), RequestMetrics(telemetry.instruments)],
        before_request=reject_nul_characters,
        exception_handlers={Exception: problem_response},
        openapi_config=_openapi(),
        request_max_body_size=settings.api_max_body_bytes,
        debug=False,
    )
    document_problems(app.routes)
    return app


def _constant(value: Any) -> Provide:
    def provide() -> Any:
        return value

    provide.__annotations__["return"] = type(value)
    return Provide(provide, use_cache=True, sync_to_thread=False)


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Autoloader API",
        version="1.0.0",
        description="Zero-code, scheduled file ingestion into Apache Iceberg tables. Errors are RFC 9457 "
        "problem details; every /api/v1 endpoint needs 'Authorization: Bearer <API key>'.",
        path="/schema",
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(type="http", scheme="bearer", description="tenant API key"),
            }
        ),
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    app: Litestar, *, host: str, port: int, stop: asyncio.Event, on_started: Callable[[], None] | None = None
) -> None:
    """Serve ``app`` with uvicorn in this event loop until ``stop`` is set.

    Raises:
        SystemExit: uvicorn could not bind ``host:port`` (it logs why).
    """
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    await _until_started(server, serving)
    log.info("serving", extra={"url": f"http://{host}:{port}"})
    if on_started is not None:
        on_started()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


async def body(runtime: ServiceRuntime) -> None:
    """Service body: serve HTTP on ``api_host:api_port`` until the runtime stops."""
    settings = runtime.settings
    pool = await runtime.wait_for("PostgreSQL", lambda: open_api_pool(settings.database_url))
    try:
        app = create_app(settings, bus=runtime.bus, pool=pool)
        freeze_startup_heap()
        await serve_http(
            app, host=settings.api_host, port=settings.api_port, stop=runtime.stop, on_started=runtime.ready
        )
    finally:
        await close_pool(pool)


async def open_api_pool(url: str) -> Pool:
    """The API's pool: no session reset per checkout (the API never changes session state)."""
    return await create_pool(url, reset_sessions=False)


def freeze_startup_heap() -> None:
    """Move what start-up built (modules, the app, its routes and schemas) out of the collector's reach.

    Those objects live as long as the process; without this every full collection walks them again,
    a pause of several milliseconds that lands on whichever request triggered it.
    """
    gc.collect()
    gc.freeze()


async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    while not server.started:
        if serving.done():
            serving.result()  # re-raise why it could not start
            raise RuntimeError("the HTTP server stopped before it started")
        await asyncio.sleep(0.02)
