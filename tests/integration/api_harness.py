"""The api app on real servers, with the projector body running in-process (shared by test_api_*)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar

from autoloader_api.app import create_app, serve_http
from autoloader_bus.connection import Bus
from autoloader_bus.runtime import ServiceRuntime
from autoloader_cli.servers import free_port
from autoloader_core.crypto import generate_key_spec
from autoloader_core.ids import new_id
from autoloader_core.settings import Secret, Settings
from autoloader_db.database import Pool, create_pool
from autoloader_projector.app import body as projector_body

ADMIN_TOKEN = "test-admin-token"
SECRET_KEYS = generate_key_spec("test1")
"""Encryption key of stored source credentials in API tests (one per test session)."""


@dataclass
class ApiStack:
    """A test client on the app plus what tests need to look behind it."""

    client: httpx.AsyncClient
    settings: Settings
    bus: Bus
    pool: Pool
    landing: Path
    keys: dict[str, str] = field(default_factory=dict)

    async def tenant(self, name: str | None = None) -> dict[str, str]:
        """Create a tenant through the admin API; return its Authorization header."""
        response = await self.client.post(
            "/api/v1/admin/tenants", json={"name": name or new_id("t")}, headers=admin_headers()
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['api_key']}"}

    def ingestion_body(self, **overrides: Any) -> dict[str, Any]:
        """A valid create body on the landing folder, with top-level ``overrides``."""
        body: dict[str, Any] = {
            "name": new_id("orders"),
            "source": {"type": "local", "path": str(self.landing), "file_pattern": "**/*.csv"},
            "format": {"type": "csv"},
            "destination": {"catalog": "lake", "database": "sales", "table": "orders"},
            "schedule": {"frequency": "daily", "time": "02:00", "timezone": "Europe/Berlin"},
        }
        body.update(overrides)
        return body

    async def create(self, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
        """Create an ingestion and return its body (asserting 201)."""
        response = await self.client.post(
            "/api/v1/ingestions", json=self.ingestion_body(**overrides), headers=headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def admin_headers() -> dict[str, str]:
    """The admin Authorization header."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is a problem-details response with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    return dict(body)


@contextlib.asynccontextmanager
async def running_projector(settings: Settings, bus: Bus) -> AsyncIterator[None]:
    """Run the projector's service body in this event loop until the block ends."""
    async with running_service("projector", projector_body, settings, bus):
        yield


def _service_body(name: str) -> Callable[[ServiceRuntime], Awaitable[None]]:
    # Imported on demand: most API tests run no loader (and need not import pyiceberg).
    module = importlib.import_module(f"autoloader_{name}.app")
    body: Callable[[ServiceRuntime], Awaitable[None]] = module.body
    return body


@contextlib.asynccontextmanager
async def running_service(
    name: str, body: Callable[[ServiceRuntime], Awaitable[None]], settings: Settings, bus: Bus
) -> AsyncIterator[None]:
    """Run a service body in this event loop until the block ends."""
    runtime = ServiceRuntime(name=name, settings=settings, bus=bus, stop=asyncio.Event())
    task = asyncio.create_task(body(runtime))
    try:
        yield
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, timeout=15)
        for beat in runtime._tasks:
            await asyncio.wait_for(beat, timeout=5)


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port in this event loop; yield its base URL."""
    port, stop, started = free_port(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve_http(app, host="127.0.0.1", port=port, stop=stop, on_started=started.set)
    )
    await asyncio.wait({task, asyncio.create_task(started.wait())}, return_when=asyncio.FIRST_COMPLETED)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def api_stack(
    *,
    nats_url: str,
    database_url: str,
    data_dir: Path,
    rpc_timeout: float = 5.0,
    services: tuple[str, ...] = (),
    **overrides: Any,
) -> AsyncIterator[ApiStack]:
    """The app on a real NATS and Postgres, with the projector following the log.

    ``services`` also run in-process (e.g. ``("discovery", "loader")``, so previews answer);
    ``overrides`` replace settings fields (e.g. ``rate_limit_per_second=1``).
    """
    settings = Settings(
        nats_url=nats_url,
        database_url=database_url,
        data_dir=data_dir,
        admin_token=Secret(ADMIN_TOKEN),
        secret_keys=Secret(SECRET_KEYS),
        local_roots=(data_dir / "landing",),
        heartbeat_seconds=0.5,
        **overrides,
    )
    bus = await Bus.connect(nats_url, stream=settings.stream, name="api-test")
    await bus.ensure_stream()
    pool = await create_pool(database_url, max_size=4)
    try:
        async with contextlib.AsyncExitStack() as others:
            await others.enter_async_context(running_projector(settings, bus))
            for name in services:
                await others.enter_async_context(running_service(name, _service_body(name), settings, bus))
            # Only these run beside the app here: readiness waits for them alone.
            ready = ("projector", *services)
            app = create_app(settings, bus=bus, pool=pool, rpc_timeout=rpc_timeout, ready_services=ready)
            async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                landing = data_dir / "landing"
                yield ApiStack(client=client, settings=settings, bus=bus, pool=pool, landing=landing)
    finally:
        await pool.close()
        await bus.close()
