"""Reading heartbeats on a real NATS server: what readiness and ``autoloader up`` see."""

from __future__ import annotations

import asyncio

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.heartbeat import beat_forever, read_beats
from autoloader_contracts.subjects import HEARTBEAT_BUCKET
from tests.conftest import unique

pytestmark = pytest.mark.integration

READS = 300


async def _consumers(bus: Bus) -> int:
    return (await bus.js.stream_info(f"KV_{HEARTBEAT_BUCKET}")).state.consumer_count


async def _until_beating(bus: Bus, services: set[str]) -> None:
    for _ in range(100):
        if {beat.service for beat in await read_beats(bus)} >= services:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{services} never beat within 5 s")


async def test_reading_heartbeats_creates_no_consumer_and_skips_stopped_services(nats_url: str) -> None:
    bus = await Bus.connect(nats_url, stream=unique("HB").upper(), name="heartbeats-test")
    stop, gone = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(beat_forever(bus, "loader", interval=0.1, stop=stop))
    stopping = asyncio.create_task(beat_forever(bus, "stopped-service", interval=0.1, stop=gone))
    try:
        await _until_beating(bus, {"loader", "stopped-service"})
        gone.set()
        await stopping  # deletes its key: a delete marker stays on its subject
        before = await _consumers(bus)

        seen = [await read_beats(bus) for _ in range(READS)]  # a readiness probe's worth of reads

        # KeyValue.keys() left one watcher consumer per call behind; probes then hit the consumer limit.
        assert await _consumers(bus) == before
        assert all([beat.service for beat in beats] == ["loader"] for beats in seen)
    finally:
        stop.set()
        await serving
        await bus.close()
