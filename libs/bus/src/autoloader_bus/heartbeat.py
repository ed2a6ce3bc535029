"""Service heartbeats in a JetStream key-value bucket (entries expire when a service dies)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import datetime

import msgspec
from nats.js.errors import BucketNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from autoloader_bus.connection import Bus
from autoloader_contracts.subjects import HEARTBEAT_BUCKET
from autoloader_core.clock import utcnow

HEARTBEAT_TTL_SECONDS = 30.0


class ServiceBeat(msgspec.Struct, frozen=True):
    """What a service reports about itself."""

    service: str
    instance: str
    pid: int
    host: str
    started_at: datetime
    last_heartbeat: datetime
    status: str = "ready"


async def _bucket(bus: Bus) -> KeyValue:
    try:
        return await bus.js.key_value(HEARTBEAT_BUCKET)
    except BucketNotFoundError:
        return await bus.js.create_key_value(bucket=HEARTBEAT_BUCKET, ttl=HEARTBEAT_TTL_SECONDS, history=1)


async def beat_forever(bus: Bus, service: str, *, interval: float, stop: asyncio.Event) -> None:
    """Publish this process's heartbeat every ``interval`` seconds until ``stop`` is set."""
    bucket = await _bucket(bus)
    started = utcnow()
    instance = f"{socket.gethostname()}-{os.getpid()}"
    key = f"{service}.{instance}".replace("_", "-")
    while not stop.is_set():
        beat = ServiceBeat(
            service=service,
            instance=instance,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=started,
            last_heartbeat=utcnow(),
        )
        await bucket.put(key, msgspec.json.encode(beat))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    await bucket.delete(key)


async def read_beats(bus: Bus) -> list[ServiceBeat]:
    """Return the latest heartbeat of every live service instance."""
    bucket = await _bucket(bus)
    try:
        keys = await bucket.keys()
    except NoKeysError:
        return []
    beats = []
    for key in keys:
        entry = await bucket.get(key)
        if entry.value:
            beats.append(msgspec.json.decode(entry.value, type=ServiceBeat))
    return sorted(beats, key=lambda b: (b.service, b.instance))
