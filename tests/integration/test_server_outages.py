"""Services wait for their servers in process, report it honestly, and always stop in bounded time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from autoloader_api.app import create_app
from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import SERVING, STARTING, beat_forever, read_beats
from autoloader_bus.runtime import serve
from autoloader_cli.servers import NatsServer, PostgresServer
from autoloader_core.settings import Settings
from autoloader_db.database import DatabaseUnavailable, create_pool, ensure_database, migrate
from autoloader_projector.app import body as projector_body
from tests.integration.api_harness import serving

pytestmark = pytest.mark.integration


@pytest.fixture
async def stopped_postgres(tmp_path: Path) -> AsyncIterator[tuple[PostgresServer, str]]:
    """A migrated database on a PostgreSQL server of this test, stopped (the test starts it)."""
    server = PostgresServer(tmp_path / "pg" / "data", fsync=False).start()
    url = server.url_for("outage")
    await ensure_database(server.url, "outage")
    await migrate(url)
    server.stop()
    try:
        yield server, url
    finally:
        server.stop()


async def _states(bus: Bus, service: str) -> list[str]:
    return [beat.state for beat in await read_beats(bus) if beat.service == service]


async def test_a_service_started_while_postgres_is_down_serves_once_it_is_up(
    nats_url: str, bus: Bus, stopped_postgres: tuple[PostgresServer, str], data_dir: Path
) -> None:
    server, url = stopped_postgres
    settings = Settings(nats_url=nats_url, database_url=url, data_dir=data_dir, heartbeat_seconds=0.2)
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(serve("projector", projector_body, settings, stop=stop, ready=ready))
    try:
        await asyncio.sleep(2.5)
        assert not service.done(), "the service exited instead of waiting for PostgreSQL"
        assert not ready.is_set()
        assert await _states(bus, "projector") == [STARTING]  # alive, honest about not serving

        await asyncio.to_thread(server.start)
        await asyncio.wait_for(ready.wait(), timeout=30)
        await asyncio.sleep(0.5)
        assert await _states(bus, "projector") == [SERVING]
    finally:
        started = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(service, timeout=20) is True
    assert time.monotonic() - started < 10


async def test_a_service_waiting_for_nats_stops_at_once_and_serves_once_nats_is_up(
    tmp_path: Path, database_url: str, data_dir: Path
) -> None:
    nats = NatsServer(tmp_path / "nats")  # not started yet: its port is refused
    settings = Settings(nats_url=nats.url, database_url=database_url, data_dir=data_dir, heartbeat_seconds=0.2)

    stop = asyncio.Event()
    waiting = asyncio.create_task(serve("projector", projector_body, settings, stop=stop))
    await asyncio.sleep(1.5)
    assert not waiting.done()
    started = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(waiting, timeout=10) is True
    assert time.monotonic() - started < 2  # SIGTERM while waiting for a server: stop promptly

    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(serve("projector", projector_body, settings, stop=stop, ready=ready))
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(nats.start)
        await asyncio.wait_for(ready.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=20)
        nats.stop()


async def test_closing_the_bus_is_bounded_when_nats_is_gone(tmp_path: Path) -> None:
    nats = NatsServer(tmp_path / "nats").start()
    bus = await Bus.connect(nats.url, stream="AUTOLOADER", name="test")
    await bus.ensure_stream()
    await bus.nc.publish("some.subject", b"pending")
    nats.stop()
    started = time.monotonic()
    await bus.close(timeout=1.0)
    assert time.monotonic() - started < 3
    assert bus.nc.is_closed


async def test_pool_errors_while_postgres_is_down_are_transient(
    stopped_postgres: tuple[PostgresServer, str],
) -> None:
    server, url = stopped_postgres
    await asyncio.to_thread(server.start)
    pool = await create_pool(url, max_size=1)
    try:
        assert await pool.fetchval("SELECT 1") == 1
        await asyncio.to_thread(server.stop)  # fast shutdown: the pooled connection is cut
        with pytest.raises(DatabaseUnavailable):
            await pool.fetchval("SELECT 1")
        with pytest.raises(DatabaseUnavailable):
            async with pool.acquire() as conn:
                await conn.execute("SELECT 1")
        await asyncio.to_thread(server.start)
        assert await pool.fetchval("SELECT 1") == 1  # the pool reopened its connection
    finally:
        await pool.close()


async def test_readiness_names_a_service_that_is_not_serving_yet(
    nats_url: str, bus: Bus, pool: object, database_url: str, data_dir: Path
) -> None:
    settings = Settings(nats_url=nats_url, database_url=database_url, data_dir=data_dir, heartbeat_seconds=0.2)
    app = create_app(settings, bus=bus, pool=pool, ready_services=("loader",))  # type: ignore[arg-type]
    state = STARTING
    stop = asyncio.Event()
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        first = await client.get("/health/ready")
        assert first.status_code == 503
        assert first.json()["checks"]["loader"] == "down: no heartbeat"

        beats = asyncio.create_task(beat_forever(bus, "loader", interval=0.2, stop=stop, state=lambda: state))
        try:
            await asyncio.sleep(0.5)
            starting = await client.get("/health/ready")
            assert starting.status_code == 503
            assert starting.headers["retry-after"]
            assert starting.json()["checks"] == {"nats": "ok", "postgres": "ok", "loader": "starting: not serving yet"}
            assert "loader starting" in starting.json()["detail"]

            state = SERVING
            await asyncio.sleep(0.5)
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok", "checks": {"nats": "ok", "postgres": "ok", "loader": "ok"}}
        finally:
            stop.set()
            await asyncio.wait_for(beats, timeout=5)
