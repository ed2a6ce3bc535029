"""The lifecycle every service process shares.

``run_service`` reads settings once, sets up logging, connects to NATS, makes sure the event
stream exists, runs the service body, publishes heartbeats once the body says it is ready, and
stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import beat_forever
from autoloader_core.logging import configure_logging
from autoloader_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """What a service body gets: its settings, the bus, and the stop signal."""

    name: str
    settings: Settings
    bus: Bus
    stop: asyncio.Event
    ready_signal: asyncio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def ready(self) -> None:
        """Start publishing heartbeats: ``autoloader up`` waits for them (in-process callers for ``ready_signal``)."""
        if self.ready_signal is not None:
            self.ready_signal.set()
        self._tasks.append(
            asyncio.create_task(
                beat_forever(self.bus, self.name, interval=self.settings.heartbeat_seconds, stop=self.stop)
            )
        )


ServiceBody = Callable[[ServiceRuntime], Coroutine[Any, Any, None]]


def run_service(name: str, body: ServiceBody, settings: Settings | None = None) -> None:
    """Run ``body`` as the service ``name`` until SIGTERM/SIGINT (blocking entry point)."""
    settings = settings or Settings.from_env()
    configure_logging(name, settings.log_level)
    asyncio.run(serve(name, body, settings))


async def serve(
    name: str,
    body: ServiceBody,
    settings: Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Async form of :func:`run_service`.

    Args:
        name: Service name (heartbeats, logs).
        body: The service body.
        settings: Settings to run with.
        stop: Set it to stop the service; when omitted, SIGTERM/SIGINT stop it (tests that run
            several services in one event loop pass their own).
        ready: Set when the body reports ready (tests that run services in-process wait on it).
    """
    bus = await Bus.connect(settings.nats_url, stream=settings.stream, name=name)
    await bus.ensure_stream()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    runtime = ServiceRuntime(name=name, settings=settings, bus=bus, stop=stop, ready_signal=ready)
    log.info("starting", extra={"nats": settings.nats_url})
    body_task = asyncio.create_task(body(runtime))
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({body_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if body_task in done and body_task.exception() is not None:
        log.error("service body failed", exc_info=body_task.exception())
    try:
        await asyncio.wait_for(body_task, timeout=15)
    except (TimeoutError, asyncio.CancelledError, Exception):
        body_task.cancel()
    for task in runtime._tasks:
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
    stop_task.cancel()
    await bus.close()
    log.info("stopped")
