"""Two scheduler replicas on one real NATS: the leader lease, handover, one run per tick.

The replicas share one injected :class:`FakeClock` for due times (a simulated minute passes when
the test says so); the lease runs on real seconds, as it does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_bus.follow import follow
from autoloader_bus.kv import CasBucket, Record
from autoloader_contracts.events import IngestionCreated, RunRequested
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, ScheduleSpec, SourceSpec
from autoloader_contracts.subjects import SCHEDULER_LEASE_BUCKET, events_of
from autoloader_core.clock import FakeClock
from autoloader_core.errors import TransientError
from autoloader_core.ids import new_id
from autoloader_scheduler.handlers import Scheduler
from autoloader_scheduler.lease import LEASE_KEY, LeaderLease, LeaseHolder

pytestmark = pytest.mark.integration

START = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
EVERY_MINUTE = ScheduleSpec(frequency="cron", cron_expression="* * * * *")
HANDOVER_SECONDS = 5.0


class Freezable:
    """The lease bucket, able to stop answering this replica (a kill -9 or a partition)."""

    def __init__(self, inner: CasBucket) -> None:
        self.inner = inner
        self.frozen = False

    def _check(self) -> None:
        if self.frozen:
            raise TransientError("frozen by the test")

    async def get(self, key: str) -> Record | None:
        self._check()
        return await self.inner.get(key)

    async def create(self, key: str, value: bytes) -> int:
        self._check()
        return await self.inner.create(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int:
        self._check()
        return await self.inner.update(key, value, revision)

    async def delete(self, key: str, revision: int) -> None:
        self._check()
        await self.inner.delete(key, revision)


@dataclass
class Replica:
    name: str
    bus: Bus
    store: Freezable
    lease: LeaderLease
    stop: asyncio.Event
    task: asyncio.Task[None] = field(init=False)

    @property
    def leads(self) -> bool:
        return self.lease.is_leader and not self.task.done()


async def start_replica(nats_url: str, clock: FakeClock, name: str) -> Replica:
    bus = await Bus.connect(nats_url, stream="AUTOLOADER", name=name)
    store = Freezable(CasBucket(bus, SCHEDULER_LEASE_BUCKET))
    lease = LeaderLease(store, name)
    stop = asyncio.Event()
    scheduler = Scheduler(bus, clock, stop, lease=lease)
    lease.on_change = scheduler.leadership_changed
    await scheduler.replay()
    replica = Replica(name=name, bus=bus, store=store, lease=lease, stop=stop)
    replica.task = asyncio.create_task(scheduler.run())
    return replica


async def stop_replica(replica: Replica) -> None:
    replica.stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(replica.task, timeout=10)
    await replica.bus.close()


@contextlib.asynccontextmanager
async def replicas(nats_url: str, clock: FakeClock, count: int = 2) -> AsyncIterator[list[Replica]]:
    started = [await start_replica(nats_url, clock, f"replica-{i}") for i in range(count)]
    try:
        yield started
    finally:
        for replica in started:
            if not replica.task.done():
                await stop_replica(replica)
            elif not replica.bus.nc.is_closed:
                await replica.bus.close()


class Runs:
    """Every scheduled ``RunRequested`` in the log, collected by a consumer as they are appended."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[RunRequested] = []
        self._stop = asyncio.Event()
        self._bus = bus
        self._task: asyncio.Task[None] | None = None

    async def _collect(self) -> None:
        following = follow(self._bus, (events_of(RunRequested),), after=0, stop=self._stop, reader="test-runs")
        async for batch in following:
            self.events += [s.event for s in batch if isinstance(s.event, RunRequested)]

    async def __aenter__(self) -> Runs:
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait_for(self, count: int, within: float = 10.0) -> float:
        """Wait until ``count`` runs are in; return the real seconds it took."""
        started = time.monotonic()
        while len(self.events) < count:
            if time.monotonic() - started > within:
                raise AssertionError(f"only {len(self.events)} of {count} runs after {within} s")
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    def per_tick(self) -> Counter[tuple[str, datetime | None]]:
        return Counter((r.ingestion_id, r.scheduled_for) for r in self.events)


async def create_ingestions(bus: Bus, count: int) -> list[str]:
    store = EventStore(bus)
    config = IngestionConfig(name="orders", source=SourceSpec(type="local", path="/data/in"),
                             format=FormatSpec(type="csv"), schedule=EVERY_MINUTE,
                             destination=DestinationSpec(database="raw", table="orders"))
    ids = []
    tenant = new_id("tnt")
    for _ in range(count):
        ingestion = new_id("ing")
        await store.append(IngestionCreated(event_id=new_id("evt"), occurred_at=START, tenant_id=tenant,
                                            aggregate_id=ingestion, actor="key:test", correlation_id=new_id("cor"),
                                            config=config, status="active"), expected_version=0)
        ids.append(ingestion)
    return ids


async def leader_of(group: list[Replica], within: float = HANDOVER_SECONDS) -> tuple[Replica, float]:
    """The replica that leads, once exactly one does; with the real seconds waited for it."""
    started = time.monotonic()
    while True:
        leaders = [r for r in group if r.leads]
        if len(leaders) == 1:
            return leaders[0], time.monotonic() - started
        assert len(leaders) < 2, "two replicas lead at once"
        if time.monotonic() - started > within:
            raise AssertionError(f"no leader within {within} s")
        await asyncio.sleep(0.02)


def expected_ticks(ingestions: list[str], minutes: int) -> Counter[tuple[str, datetime | None]]:
    first = START.replace(second=0) + timedelta(minutes=1)
    return Counter((i, first + timedelta(minutes=m)) for i in ingestions for m in range(minutes))


async def test_two_replicas_request_each_of_1000_ticks_exactly_once(nats_url: str, bus: Bus) -> None:
    ingestions = await create_ingestions(bus, 10)
    clock = FakeClock(START)
    async with Runs(bus) as runs, replicas(nats_url, clock) as group:
        leader, _ = await leader_of(group)
        for minute in range(1, 101):
            clock.advance(timedelta(minutes=1))
            await runs.wait_for(10 * minute)
            assert [r for r in group if r.leads] == [leader]  # nobody lost or stole the lease
        await asyncio.sleep(0.3)  # a duplicate would have arrived by now
    assert runs.per_tick() == expected_ticks(ingestions, 100)
    assert len(runs.events) == 1000


@pytest.mark.parametrize("how", ["stopped", "killed"])
async def test_a_follower_takes_over_within_5_s_and_fires_the_next_tick_once(
    nats_url: str, bus: Bus, how: str
) -> None:
    ingestions = await create_ingestions(bus, 3)
    clock = FakeClock(START)
    async with Runs(bus) as runs, replicas(nats_url, clock) as group:
        leader, _ = await leader_of(group)
        clock.advance(timedelta(minutes=1))
        await runs.wait_for(3)
        holder = msgspec_holder(await CasBucket(bus, SCHEDULER_LEASE_BUCKET).get(LEASE_KEY))
        assert holder.holder == leader.name

        if how == "stopped":
            await stop_replica(leader)  # a clean stop releases the lease
        else:
            # kill -9: the replica vanishes without a word; its lease key stays until it lapses.
            leader.store.frozen = True
            leader.task.cancel()
            await asyncio.gather(leader.task, return_exceptions=True)
            await leader.bus.nc.close()
        gone = time.monotonic()
        clock.advance(timedelta(minutes=1))  # this tick falls due during the handover: fired late
        successor, _ = await leader_of([r for r in group if r is not leader])
        handover = time.monotonic() - gone
        await runs.wait_for(6, within=HANDOVER_SECONDS)
        fired_after = time.monotonic() - gone
        clock.advance(timedelta(minutes=1))
        await runs.wait_for(9)
        await asyncio.sleep(0.3)
    assert successor is not leader
    assert handover < HANDOVER_SECONDS
    assert fired_after < HANDOVER_SECONDS + 0.5
    assert runs.per_tick() == expected_ticks(ingestions, 3)


def msgspec_holder(record: Record | None) -> LeaseHolder:
    assert record is not None
    return msgspec.json.decode(record.value, type=LeaseHolder)
