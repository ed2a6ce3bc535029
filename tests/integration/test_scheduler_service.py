"""The scheduler service on a real NATS server, with its clock sped up 120x (a minute = 0.5 s)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore, StoredEvent
from autoloader_contracts.events import IngestionCreated, IngestionPaused, IngestionResumed, RunRequested
from autoloader_contracts.ingestion import (
    DestinationSpec,
    FormatSpec,
    IngestionConfig,
    ScheduleSpec,
    SourceSpec,
)
from autoloader_contracts.subjects import events_of
from autoloader_core.ids import deterministic_id, new_id
from autoloader_core.settings import Settings
from autoloader_scheduler.app import body
from tests.support import running

pytestmark = pytest.mark.integration

SCALE = 120.0
EVERY_MINUTE = ScheduleSpec(frequency="cron", cron_expression="* * * * *")




@asynccontextmanager
async def scheduler(nats_url: str) -> AsyncIterator[None]:
    """Run the scheduler's service body in-process until the test is done with it."""
    settings = Settings(nats_url=nats_url, clock_scale=SCALE, heartbeat_seconds=0.5)
    async with running(settings, scheduler=body):
        yield


def _envelope(tenant: str, ingestion: str, when: datetime | None = None) -> dict[str, object]:
    return {"event_id": new_id("evt"), "occurred_at": when or datetime.now(UTC), "tenant_id": tenant,
            "aggregate_id": ingestion, "actor": "key:test", "correlation_id": new_id("cor")}


async def create_active(store: EventStore, tenant: str, ingestion: str, when: datetime | None = None) -> int:
    config = IngestionConfig(name="orders", source=SourceSpec(type="local", path="/data/in"),
                             format=FormatSpec(type="csv"), schedule=EVERY_MINUTE,
                             destination=DestinationSpec(database="raw", table="orders"))
    event = IngestionCreated(**_envelope(tenant, ingestion, when), config=config, status="active")  # type: ignore[arg-type]
    return await store.append(event, expected_version=0)


async def scheduled_runs(store: EventStore, ingestion: str) -> list[RunRequested]:
    stored: list[StoredEvent] = await store.read_subject(events_of(RunRequested))
    return [s.event for s in stored
            if isinstance(s.event, RunRequested) and s.event.ingestion_id == ingestion]


async def wait_for_runs(store: EventStore, ingestion: str, done: Callable[[int], bool],
                        within: float = 20.0) -> list[RunRequested]:
    """Poll the log until the number of scheduled runs of ``ingestion`` satisfies ``done``."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        runs = await scheduled_runs(store, ingestion)
        if done(len(runs)):
            return runs
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(runs)} scheduled runs after {within} s")
        await asyncio.sleep(0.1)


def assert_one_run_per_tick(runs: list[RunRequested], ingestion: str) -> None:
    due_times = Counter(r.scheduled_for for r in runs)
    assert due_times.most_common(1)[0][1] == 1, f"a tick was requested twice: {due_times.most_common(3)}"
    run_ids = Counter(r.aggregate_id for r in runs)
    assert run_ids.most_common(1)[0][1] == 1
    for run in runs:
        assert run.scheduled_for is not None
        assert run.trigger == "scheduled"
        assert run.actor == "service:scheduler"
        assert (run.scheduled_for.second, run.scheduled_for.microsecond) == (0, 0)
        assert run.aggregate_id == deterministic_id("run", ingestion, run.scheduled_for.isoformat())
        assert run.event_id == deterministic_id("evt", run.aggregate_id, "requested")


async def test_active_cron_ingestion_gets_one_scheduled_run_per_tick(nats_url: str, bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion, idle = new_id("tnt"), new_id("ing"), new_id("ing")
    async with scheduler(nats_url):
        await create_active(store, tenant, ingestion)
        runs = await wait_for_runs(store, ingestion, lambda n: n >= 4)
    assert_one_run_per_tick(runs, ingestion)
    assert all(r.tenant_id == tenant for r in runs)
    due = sorted(r.scheduled_for for r in runs if r.scheduled_for)
    # Consecutive minutes: the sped-up clock fires every tick, none skipped or doubled.
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(due))
    assert await scheduled_runs(store, idle) == []


async def test_pause_stops_scheduled_runs_and_resume_brings_them_back(nats_url: str, bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    async with scheduler(nats_url):
        version = await create_active(store, tenant, ingestion)
        await wait_for_runs(store, ingestion, lambda n: n >= 2)
        paused = IngestionPaused(**_envelope(tenant, ingestion))  # type: ignore[arg-type]
        version = await store.append(paused, expected_version=version)
        await asyncio.sleep(1.0)  # a tick in flight when the pause arrived may still land
        before = len(await scheduled_runs(store, ingestion))
        await asyncio.sleep(3.0)  # six simulated minutes
        assert len(await scheduled_runs(store, ingestion)) == before

        resumed = IngestionResumed(**_envelope(tenant, ingestion))  # type: ignore[arg-type]
        await store.append(resumed, expected_version=version)
        runs = await wait_for_runs(store, ingestion, lambda n: n >= before + 2)
    assert_one_run_per_tick(runs, ingestion)
    after_resume = sorted(r.scheduled_for for r in runs if r.scheduled_for)[before:]
    # No catch-up burst of the ~6 minutes missed while paused: ticks continue one minute apart.
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(after_resume))


async def test_two_schedulers_never_request_a_tick_twice(nats_url: str, bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    async with scheduler(nats_url), scheduler(nats_url):
        await create_active(store, tenant, ingestion)
        runs = await wait_for_runs(store, ingestion, lambda n: n >= 6)
    assert_one_run_per_tick(await scheduled_runs(store, ingestion), ingestion)
    assert len(runs) >= 6


async def test_restart_neither_repeats_a_tick_nor_replays_missed_ones(nats_url: str, bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    async with scheduler(nats_url):
        await create_active(store, tenant, ingestion)
        first_life = await wait_for_runs(store, ingestion, lambda n: n >= 3)
    async with scheduler(nats_url):
        runs = await wait_for_runs(store, ingestion, lambda n: n >= len(first_life) + 3)
    assert_one_run_per_tick(runs, ingestion)


async def test_downtime_is_caught_up_with_a_single_run(nats_url: str, bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    await create_active(store, tenant, ingestion, when=long_ago)
    last_tick = (long_ago + timedelta(minutes=10)).replace(second=0, microsecond=0)
    run_id = deterministic_id("run", ingestion, last_tick.isoformat())
    earlier = RunRequested(**{**_envelope(tenant, run_id), "actor": "service:scheduler",  # type: ignore[arg-type]
                              "event_id": deterministic_id("evt", run_id, "requested")},
                           ingestion_id=ingestion, trigger="scheduled", scheduled_for=last_tick)
    await store.append(earlier, expected_version=0)
    started = datetime.now(UTC)
    async with scheduler(nats_url):
        runs = await wait_for_runs(store, ingestion, lambda n: n >= 3)
    due = sorted(r.scheduled_for for r in runs if r.scheduled_for)
    # ~170 missed minutes became one catch-up run for the latest of them, then regular ticks.
    assert due[0] == last_tick
    assert due[1] > started - timedelta(minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(due[1:]))
    assert_one_run_per_tick(runs, ingestion)
