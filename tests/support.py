"""Helpers shared by tests: run service bodies in-process, build events, wait for conditions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from autoloader_bus.runtime import ServiceBody, serve
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings

T = TypeVar("T")


@contextlib.asynccontextmanager
async def running(settings: Settings, **bodies: ServiceBody) -> AsyncIterator[None]:
    """Run service bodies (name=body) in this event loop until each reports ready; stop them on exit."""
    stop = asyncio.Event()
    ready = {name: asyncio.Event() for name in bodies}
    tasks = [
        asyncio.create_task(serve(name, body, settings, stop=stop, ready=ready[name])) for name, body in bodies.items()
    ]
    try:
        for name, signal in ready.items():
            try:
                await asyncio.wait_for(signal.wait(), timeout=30)
            except TimeoutError:
                raise AssertionError(f"service {name} did not report ready within 30 s") from None
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last value: {last!r})")


def envelope(tenant_id: str, aggregate_id: str, **extra: Any) -> dict[str, Any]:
    """Common event fields for hand-built test events."""
    return {
        "event_id": new_id("evt"),
        "occurred_at": datetime.now(UTC),
        "tenant_id": tenant_id,
        "aggregate_id": aggregate_id,
        "actor": "test",
        "correlation_id": new_id("cor"),
        **extra,
    }


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` (a server finished starting)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
