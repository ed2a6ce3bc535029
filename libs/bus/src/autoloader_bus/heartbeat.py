"""Service heartbeats in a JetStream key-value bucket (entries expire when a service dies).

Heartbeats are not events: each instance overwrites one key (``<service>.<host>-<pid>``) with a
JSON :class:`ServiceBeat`, the bucket keeps one revision and drops keys after
``HEARTBEAT_TTL_SECONDS``. A service beats from the moment it reached NATS, saying ``starting``
until its consumers and request/reply subjects answer, then ``serving``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import BucketNotFoundError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from autoloader_bus.connection import Bus
from autoloader_contracts.subjects import HEARTBEAT_BUCKET
from autoloader_core.clock import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 30.0
STARTING = "starting"
SERVING = "serving"
_DELETE_TIMEOUT_SECONDS = 2.0


class ServiceBeat(msgspec.Struct, frozen=True):
    """What a service reports about itself.

    ``state`` was added after ``status``: a beat without it comes from a version that beat only
    once it was ready, so it decodes as ``serving``; ``status`` stays ``"ready"`` for readers
    that predate ``state`` (msgspec ignores the field they do not know).
    """

    service: str
    instance: str
    pid: int
    host: str
    started_at: datetime
    last_heartbeat: datetime
    status: str = "ready"
    state: str = SERVING

    @property
    def serving(self) -> bool:
        """Whether the instance said its consumers and request/reply subjects answer."""
        return self.state == SERVING


async def _bucket(bus: Bus) -> KeyValue:
    try:
        return await bus.js.key_value(HEARTBEAT_BUCKET)
    except BucketNotFoundError:
        return await bus.js.create_key_value(bucket=HEARTBEAT_BUCKET, ttl=HEARTBEAT_TTL_SECONDS, history=1)


async def beat_forever(
    bus: Bus,
    service: str,
    *,
    interval: float,
    stop: asyncio.Event,
    state: Callable[[], str] = lambda: SERVING,
) -> None:
    """Publish this process's heartbeat every ``interval`` seconds until ``stop`` is set.

    A beat that cannot be published (NATS is down or restarting) is skipped and logged once per
    outage: the heartbeat must outlive the outage, and a missing beat is exactly what tells
    readers the service is not reachable meanwhile.

    Args:
        bus: The connected bus.
        service: The service name.
        interval: Seconds between beats.
        stop: Set to stop beating (the key is then deleted, best effort).
        state: Returns the current state, ``starting`` or ``serving``, at each beat.
    """
    started = utcnow()
    instance = f"{socket.gethostname()}-{os.getpid()}"
    key = f"{service}.{instance}".replace("_", "-")
    bucket: KeyValue | None = None
    failing = False
    while not stop.is_set():
        beat = ServiceBeat(
            service=service,
            instance=instance,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=started,
            last_heartbeat=utcnow(),
            state=state(),
        )
        try:
            bucket = bucket or await _bucket(bus)
            await bucket.put(key, msgspec.json.encode(beat))
        except (NatsError, OSError) as exc:
            if not failing:
                log.warning("heartbeat not published; retrying", extra={"error": repr(exc)})
            failing = True
        else:
            if failing:
                log.info("heartbeat published again")
            failing = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    if bucket is not None:
        # Best effort: when NATS is gone the key simply expires with the bucket's TTL.
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await asyncio.wait_for(bucket.delete(key), timeout=_DELETE_TIMEOUT_SECONDS)


async def read_beats(bus: Bus) -> list[ServiceBeat]:
    """Return the latest heartbeat of every live service instance."""
    bucket = await _bucket(bus)
    beats = []
    for key in await _keys(bus):
        try:
            entry = await bucket.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            continue  # the instance stopped (deleted its key) after the listing
        if entry.value:
            beats.append(msgspec.json.decode(entry.value, type=ServiceBeat))
    return sorted(beats, key=lambda b: (b.service, b.instance))


async def _keys(bus: Bus) -> list[str]:
    """The bucket's keys, from its stream's subjects.

    Not ``KeyValue.keys()``: that creates a watcher (a consumer) per call, and readiness probes
    and ``up``'s start-up polling call this often enough to hit JetStream's consumer limit before
    the ephemeral consumers are reaped.
    """
    prefix = f"$KV.{HEARTBEAT_BUCKET}."
    info = await bus.js.stream_info(f"KV_{HEARTBEAT_BUCKET}", subjects_filter=f"{prefix}>")
    return sorted(subject.removeprefix(prefix) for subject in (info.state.subjects or {}))
