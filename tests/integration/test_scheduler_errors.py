"""The scheduler's timer on a real NATS survives errors while firing: it logs them and keeps scheduling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import IngestionCreated, RunRequested
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, ScheduleSpec, SourceSpec
from autoloader_contracts.subjects import events_of
from autoloader_core.clock import FakeClock
from autoloader_core.ids import new_id
from autoloader_scheduler import handlers
from autoloader_scheduler.domain import Schedules, Tick
from autoloader_scheduler.handlers import Scheduler

pytestmark = pytest.mark.integration

START = datetime(2024, 6, 3, 10, 0, 30, tzinfo=UTC)
FIRST = START.replace(second=0) + timedelta(minutes=1)
EVERY_MINUTE = ScheduleSpec(frequency="cron", cron_expression="* * * * *")


async def create(bus: Bus, count: int) -> list[str]:
    store = EventStore(bus)
    config = IngestionConfig(name="orders", source=SourceSpec(type="local", path="/data/in"),
                             format=FormatSpec(type="csv"), schedule=EVERY_MINUTE,
                             destination=DestinationSpec(database="raw", table="orders"))
    tenant, ids = new_id("tnt"), []
    for _ in range(count):
        ids.append(new_id("ing"))
        await store.append(IngestionCreated(event_id=new_id("evt"), occurred_at=START, tenant_id=tenant,
                                            aggregate_id=ids[-1], actor="key:test", correlation_id=new_id("cor"),
                                            config=config, status="active"), expected_version=0)
    return ids


@contextlib.asynccontextmanager
async def scheduling(
    bus: Bus, clock: FakeClock, schedules: Schedules | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    scheduler = Scheduler(bus, clock, stop, schedules=schedules)
    await scheduler.replay()
    task = asyncio.create_task(scheduler.run())
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def runs_of(bus: Bus, ingestions: list[str], count: int, within: float = 10.0) -> set[tuple[str, datetime]]:
    """Wait until ``count`` scheduled runs of ``ingestions`` are in the log; return (ingestion, due) of each."""
    store, started = EventStore(bus), time.monotonic()
    while True:
        found = [s.event for s in await store.read_subject(events_of(RunRequested))]
        runs = [(e.ingestion_id, e.scheduled_for) for e in found
                if isinstance(e, RunRequested) and e.ingestion_id in ingestions and e.scheduled_for]
        if len(runs) >= count:
            assert len(runs) == len(set(runs)), "a tick was requested twice"
            return set(runs)
        if time.monotonic() - started > within:
            raise AssertionError(f"only {len(runs)} of {count} runs after {within} s: {runs}")
        await asyncio.sleep(0.05)


class FailingOnce(Schedules):
    """Schedules whose first ``due()`` raises, as a bug anywhere in planning would."""

    failures = 0

    def due(self, now: datetime) -> list[Tick]:
        if not self.failures:
            self.failures += 1
            raise RuntimeError("planning failed")
        return super().due(now)


async def test_an_error_while_firing_does_not_end_the_timer(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    ingestions = await create(bus, 2)
    clock, schedules = FakeClock(START), FailingOnce()
    async with scheduling(bus, clock, schedules) as timer:
        clock.advance(timedelta(minutes=1))
        assert await runs_of(bus, ingestions, 2) == {(i, FIRST) for i in ingestions}  # retried after the error
        clock.advance(timedelta(minutes=1))
        await runs_of(bus, ingestions, 4)
        assert not timer.done()
    assert schedules.failures == 1
    assert "firing due ticks failed; retrying" in caplog.text


async def test_one_failing_schedule_is_logged_and_the_others_still_fire(
    bus: Bus, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, *fine = await create(bus, 3)
    real = handlers.run_requested

    def run_requested(tick: Tick, now: datetime) -> RunRequested:
        if tick.ingestion_id == broken:
            raise ValueError("this schedule cannot be requested")
        return real(tick, now)

    monkeypatch.setattr(handlers, "run_requested", run_requested)
    clock = FakeClock(START)
    async with scheduling(bus, clock) as timer:
        for minute in range(2):
            clock.advance(timedelta(minutes=1))
            await runs_of(bus, fine, 2 * (minute + 1))
        assert not timer.done()
        assert await runs_of(bus, fine, 4) == {(i, FIRST + timedelta(minutes=m)) for i in fine for m in range(2)}
    assert "requesting the run failed; tick skipped" in caplog.text
    assert broken in {getattr(r, "ingestion_id", None) for r in caplog.records}
