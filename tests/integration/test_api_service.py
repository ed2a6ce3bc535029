"""The api service body: serves HTTP on the configured port, reports ready, stops on the stop signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from autoloader_api.app import body
from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import read_beats
from autoloader_bus.runtime import ServiceRuntime
from autoloader_cli.servers import free_port
from autoloader_core.settings import Settings

pytestmark = pytest.mark.integration


async def test_body_serves_until_stopped(nats_url: str, database_url: str, data_dir: Path) -> None:
    port = free_port()
    settings = Settings(nats_url=nats_url, database_url=database_url, data_dir=data_dir, api_port=port,
                        heartbeat_seconds=0.2)
    bus = await Bus.connect(nats_url, stream=settings.stream, name="api")
    await bus.ensure_stream()
    runtime = ServiceRuntime(name="api", settings=settings, bus=bus, stop=asyncio.Event())
    task = asyncio.create_task(body(runtime))
    try:
        for _ in range(100):  # ready() starts the heartbeat once uvicorn serves
            if runtime._tasks:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await client.get("/health/ready")
        # The api answers, but no other service runs here: not ready, and it says which.
        assert ready.status_code == 503
        assert ready.headers["retry-after"]
        checks = ready.json()["checks"]
        assert (checks["nats"], checks["postgres"]) == ("ok", "ok")
        assert {checks[name] for name in ("scheduler", "discovery", "loader", "projector")} == {"down: no heartbeat"}
        assert "loader down: no heartbeat" in ready.json()["detail"]
        await asyncio.sleep(0.3)
        assert [beat.service for beat in await read_beats(bus)] == ["api"]
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, timeout=15)
        for beat in runtime._tasks:
            await asyncio.wait_for(beat, timeout=5)
        await bus.close()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/health/live")
