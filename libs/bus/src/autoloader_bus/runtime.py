"""The lifecycle every service process shares.

``run_service`` reads settings once, sets up logging, waits for NATS (with backoff), makes sure
the event stream exists, publishes heartbeats (``starting``, then ``serving`` once the body says
it is ready), runs the service body, and stops cleanly on SIGTERM/SIGINT.

A server that is down is never a reason to exit: connecting waits with capped exponential
backoff, and a body that fails because NATS or PostgreSQL is unavailable is started again after
a backoff (it reports ``starting`` meanwhile). Stopping is bounded: the body, the background
tasks and the NATS connection each get a deadline, so a service exits even when its servers
are gone. Started by ``autoloader up`` (``AUTOLOADER_PARENT_PID`` set), a service also stops
when its launcher dies, so it is never left running orphaned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from autoloader_bus.connection import Bus, is_unavailable
from autoloader_bus.heartbeat import SERVING, STARTING, beat_forever
from autoloader_core.backoff import Backoff, Stopped, retry_until_up, sleep_or_stop
from autoloader_core.errors import TransientError
from autoloader_core.logging import configure_logging
from autoloader_core.settings import Settings
from autoloader_core.telemetry import MetricsServer, process_telemetry, serve_metrics
from autoloader_core.tracing import configure_tracing, set_service, shutdown_tracing

log = logging.getLogger(__name__)

T = TypeVar("T")

PARENT_PID_VARIABLE = "AUTOLOADER_PARENT_PID"
"""Set by the launcher to its pid: the service stops when its parent changes (the launcher died)."""
PARENT_POLL_SECONDS = 1.0
BODY_STOP_SECONDS = 10.0
TASK_STOP_SECONDS = 3.0
BUS_CLOSE_SECONDS = 3.0


@dataclass
class ServiceRuntime:
    """What a service body gets: its settings, the bus, and the stop signal."""

    name: str
    settings: Settings
    bus: Bus
    stop: asyncio.Event
    ready_signal: asyncio.Event | None = None
    state: str = STARTING
    failed: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _beating: bool = False

    def ready(self) -> None:
        """Report ``serving``: call once the consumers are bound and the request subjects answer."""
        self.state = SERVING
        if self.ready_signal is not None:
            self.ready_signal.set()
        self.start_heartbeats()

    def starting(self) -> None:
        """Report ``starting`` again (the body is being restarted)."""
        self.state = STARTING

    def start_heartbeats(self) -> None:
        """Publish heartbeats carrying :attr:`state` until stopped (idempotent)."""
        if self._beating:
            return
        self._beating = True
        self._tasks.append(
            asyncio.create_task(
                beat_forever(
                    self.bus,
                    self.name,
                    interval=self.settings.heartbeat_seconds,
                    stop=self.stop,
                    state=lambda: self.state,
                )
            )
        )

    async def wait_for(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` until it stops raising :class:`TransientError`, with backoff.

        Args:
            what: The server waited for, for the log ("PostgreSQL").
            operation: Makes one attempt, e.g. ``lambda: create_pool(url)``.

        Raises:
            Stopped: The service was stopped while waiting (the runtime treats it as a clean stop).
        """
        return await retry_until_up(operation, what=what, stop=self.stop, log=log)


ServiceBody = Callable[[ServiceRuntime], Coroutine[Any, Any, None]]


def run_service(name: str, body: ServiceBody, settings: Settings | None = None) -> None:
    """Run ``body`` as the service ``name`` until SIGTERM/SIGINT (blocking entry point).

    Exits with status 1 when the body failed for a reason other than an unavailable server.
    """
    settings = settings or Settings.from_env()
    configure_logging(name, settings.log_level)
    try:
        succeeded = asyncio.run(serve(name, body, settings))
    finally:
        shutdown_tracing()
    if not succeeded:
        sys.exit(1)


async def serve(
    name: str,
    body: ServiceBody,
    settings: Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> bool:
    """Async form of :func:`run_service`; returns False when the body failed.

    Args:
        name: Service name (heartbeats, logs).
        body: The service body.
        settings: Settings to run with.
        stop: Set it to stop the service; when omitted, SIGTERM/SIGINT stop it (tests that run
            several services in one event loop pass their own).
        ready: Set when the body reports ready (tests that run services in-process wait on it).
    """
    # Before connecting: the connection's tasks (RPC callbacks) inherit the service name.
    configure_tracing(name, settings.otlp_endpoint)
    set_service(name)
    if stop is None:
        # Before connecting: a service waiting for NATS must still stop at once on SIGTERM.
        stop = _stop_on_signals()
    watcher = _watch_parent(stop)
    try:
        bus = await retry_until_up(lambda: _connect(settings, name), what="NATS", stop=stop, log=log)
    except Stopped:
        log.info("stopped before NATS was reachable")
        return True
    finally:
        if stop.is_set() and watcher is not None:
            watcher.cancel()
    runtime = ServiceRuntime(name=name, settings=settings, bus=bus, stop=stop, ready_signal=ready)
    if watcher is not None:
        runtime._tasks.append(watcher)
    log.info("starting", extra={"nats": settings.nats_url})
    runtime.start_heartbeats()
    metrics = _start_metrics(name, settings)
    try:
        await _run_body(runtime, body)
    finally:
        stop.set()
        if metrics is not None:
            metrics.stop()
        await _stop_tasks(runtime)
        await bus.close(timeout=BUS_CLOSE_SECONDS)
        log.info("stopped")
    return not runtime.failed


def _start_metrics(name: str, settings: Settings) -> MetricsServer | None:
    """Serve the process's metrics on ``AUTOLOADER_METRICS_PORT`` (0: not at all).

    A port that cannot be bound is logged, not fatal: the service's work matters more than its
    metrics, and a restart loop over a taken port would help no one.
    """
    telemetry = process_telemetry(name)
    if not settings.metrics_port:
        return None
    try:
        return serve_metrics(telemetry, host=settings.metrics_host, port=settings.metrics_port)
    except OSError as exc:
        log.error(
            "the metrics endpoint could not be started; running without it",
            extra={"host": settings.metrics_host, "port": settings.metrics_port, "error": str(exc)},
        )
        return None


async def _connect(settings: Settings, name: str) -> Bus:
    bus = await Bus.connect(settings.nats_url, stream=settings.stream, name=name)
    try:
        await bus.ensure_stream()
    except BaseException:
        await bus.close(timeout=BUS_CLOSE_SECONDS)
        raise
    return bus


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _watch_parent(stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Stop when the launcher that set ``AUTOLOADER_PARENT_PID`` dies (even by SIGKILL).

    Polling the parent pid works on every POSIX system and, unlike ``PR_SET_PDEATHSIG``, does not
    fire when merely the launcher's thread that started us ends.
    """
    raw = os.environ.get(PARENT_PID_VARIABLE, "")
    if not raw.isdigit():
        return None
    return asyncio.create_task(_poll_parent(int(raw), stop))


async def _poll_parent(parent: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("the launcher is gone; stopping", extra={"parent_pid": parent})
            stop.set()
            return
        await sleep_or_stop(stop, PARENT_POLL_SECONDS)


def _server_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError | OSError) or is_unavailable(exc)


async def _run_body(runtime: ServiceRuntime, body: ServiceBody) -> None:
    """Run the body until stopped; start it again after a backoff when a server was unavailable."""
    backoff = Backoff(initial=1.0, cap=30.0)
    while not runtime.stop.is_set():
        exc = await _run_once(runtime, body)
        if exc is None or isinstance(exc, Stopped) or runtime.stop.is_set():
            return
        if not _server_unavailable(exc):
            log.error("service body failed", exc_info=exc)
            runtime.failed = True
            return
        runtime.starting()
        delay = backoff.next_delay()
        log.warning(
            "a server is unavailable; starting the service body again",
            extra={"error": str(exc), "retry_in": delay, "attempt": backoff.attempts},
        )
        await sleep_or_stop(runtime.stop, delay)


async def _run_once(runtime: ServiceRuntime, body: ServiceBody) -> BaseException | None:
    """Run the body once; return how it failed (``None``: it returned, or was stopped)."""
    body_task = asyncio.create_task(body(runtime))
    stop_task = asyncio.create_task(runtime.stop.wait())
    try:
        await asyncio.wait({body_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
    if not body_task.done():
        # Stopping: the body sees runtime.stop and winds down; past the deadline it is cancelled.
        try:
            await asyncio.wait_for(body_task, timeout=BODY_STOP_SECONDS)
        except (TimeoutError, asyncio.CancelledError, Exception):
            body_task.cancel()
        return None
    if body_task.cancelled():
        return None
    return body_task.exception()


async def _stop_tasks(runtime: ServiceRuntime) -> None:
    for task in runtime._tasks:
        try:
            await asyncio.wait_for(task, timeout=TASK_STOP_SECONDS)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
