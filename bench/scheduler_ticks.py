"""Scheduler ticks at scale (issue 13): 10,000 active per-minute schedules on a real NATS.

One scheduler (with its leader lease, as in production) replays 10,000 ``IngestionCreated``
events with ``* * * * *`` crons, then lives through ``--minutes`` simulated minutes. Its clock is
injected: it runs in real time, but as soon as a minute's 10,000 ticks are appended and the
scheduler's follower has read them back, the bench jumps it to the next minute boundary, so a
simulated minute costs only the work it causes. Reported per variant:

- tick lag: real seconds from a tick's due moment to its ``RunRequested`` being acknowledged by
  JetStream (p50 / p99 / max over every tick), recorded by the scheduler's own instrument;
- CPU seconds per simulated minute of the scheduler (this process: timer, appends, following
  the log) and of nats-server;
- plan cost: the timer's bookkeeping per wake-up with nothing due (``due(now)`` + ``next_due()``).

Variants: ``heap`` (today's :class:`Schedules`, ticks appended pipelined by
``EventStore.append_many``), ``heap_each`` (the heap, each tick its own ``append`` request, 256 at a
time, as before ``append_many``), ``scan`` (the scan of every ingestion per wake-up that the heap
replaced, pipelined appends), ``scan_sequential`` (the scan and one append at a time, i.e. the
scheduler as it was before issue 13).

Usage: uv run python bench/scheduler_ticks.py [--schedules 10000] [--minutes 5] [--old-minutes 2]
       [--variants heap,heap_each,scan,scan_sequential]
       Quick look: --schedules 3000 --minutes 2 --variants heap,heap_each (~30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_bus.kv import CasBucket
from autoloader_cli.servers import NatsServer
from autoloader_contracts.events import IngestionCreated
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, ScheduleSpec, SourceSpec
from autoloader_contracts.schedule import next_fire_time, previous_fire_time
from autoloader_contracts.subjects import SCHEDULER_LEASE_BUCKET
from autoloader_core.errors import ConflictError, TransientError
from autoloader_core.ids import new_id
from autoloader_scheduler.domain import Schedules, Tick, run_requested
from autoloader_scheduler.handlers import FIRE_CONCURRENCY, Scheduler
from autoloader_scheduler.lease import LeaderLease

START = datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC)
EVERY_MINUTE = ScheduleSpec(frequency="cron", cron_expression="* * * * *")


class ScanSchedules(Schedules):
    """The schedules as they were before the heap: every wake-up scans every ingestion."""

    def _plan(self, ingestion_id: str) -> None:
        pass  # no heap to keep

    def due(self, now: datetime) -> list[Tick]:
        ticks = []
        for ingestion_id, entry in list(self._entries.items()):
            if not self._schedulable(entry):
                continue
            latest = self._guarded(ingestion_id, entry, previous_fire_time, now)
            if latest is not None and latest > self._floor(ingestion_id, entry):
                ticks.append(Tick(tenant_id=entry.tenant_id, ingestion_id=ingestion_id, due=latest))
        return sorted(ticks, key=lambda t: (t.due, t.ingestion_id))

    def next_due(self) -> datetime | None:
        upcoming = [
            moment
            for ingestion_id, entry in list(self._entries.items())
            if self._schedulable(entry)
            and (moment := self._guarded(ingestion_id, entry, next_fire_time, self._floor(ingestion_id, entry)))
        ]
        return min(upcoming, default=None)


class JumpClock:
    """Runs in real time from a simulated moment; :meth:`jump_to` moves it ahead and wakes sleepers."""

    def __init__(self, start: datetime) -> None:
        self._offset = start.timestamp() - time.monotonic()
        self._jumped = asyncio.Event()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._offset + time.monotonic(), UTC)

    def jump_to(self, moment: datetime) -> None:
        self._offset = moment.timestamp() - time.monotonic()
        self._jumped.set()
        self._jumped = asyncio.Event()

    async def sleep_until(self, moment: datetime) -> None:
        while (delay := (moment - self.now()).total_seconds()) > 0:
            jumped = self._jumped
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(jumped.wait(), timeout=delay)


class MeasuredScheduler(Scheduler):
    """The scheduler, recording each appended tick's lag (real seconds after its due moment) by due time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lags: dict[datetime, list[float]] = {}
        self.appended: Counter[str] = Counter()

    def _fired(self, tick: Tick, outcome: Any) -> bool:
        done = super()._fired(tick, outcome)
        if done:
            self.appended[tick.run_id] += 1
            self.lags.setdefault(tick.due, []).append((self._clock.now() - tick.due).total_seconds())
        return done

    def fired(self, due: datetime) -> int:
        return len(self.lags.get(due, ()))


class EachScheduler(MeasuredScheduler):
    """Today's heap, but every tick appended on its own (``EventStore.append``, a request and its
    ack each, ``concurrency`` at a time), as the scheduler did before ``append_many``."""

    async def _fire_many(self, ticks: list[Tick]) -> bool:
        now = self._clock.now()

        async def one(tick: Tick) -> bool:
            try:
                outcome: Any = await self._store.append(run_requested(tick, now), expected_version=0)
            except (ConflictError, TransientError) as exc:
                outcome = exc
            return self._fired(tick, outcome)

        done = []
        for start in range(0, len(ticks), self._concurrency):
            done += await asyncio.gather(*(one(tick) for tick in ticks[start:start + self._concurrency]))
        return all(done)


def nats_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def create_schedules(bus: Bus, count: int) -> None:
    store = EventStore(bus)
    config = IngestionConfig(name="orders", source=SourceSpec(type="local", path="/data/in"),
                             format=FormatSpec(type="csv"), schedule=EVERY_MINUTE,
                             destination=DestinationSpec(database="raw", table="orders"))
    tenant = new_id("tnt")

    async def create() -> None:
        event = IngestionCreated(event_id=new_id("evt"), occurred_at=START, tenant_id=tenant,
                                 aggregate_id=new_id("ing"), actor="key:bench", correlation_id=new_id("cor"),
                                 config=config, status="active")
        await store.append(event, expected_version=0)

    for start in range(0, count, 500):
        await asyncio.gather(*(create() for _ in range(min(500, count - start))))


def plan_cost(schedules: Schedules, now: datetime, rounds: int) -> float:
    """Median seconds of one idle wake-up's bookkeeping: ``due(now)`` (nothing due) + ``next_due()``."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert schedules.due(now) == []
        schedules.next_due()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def poll(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds, checking every 5 ms (cheap next to what is measured)."""
    while not condition():  # noqa: ASYNC110 - the scheduler under test signals nothing to wait on
        await asyncio.sleep(0.005)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_variant(variant: str, count: int, minutes: int, nats_pid: int, url: str) -> dict[str, Any]:
    """One scheduler of ``variant`` through ``minutes`` simulated minutes of ``count`` per-minute schedules.

    Today's scheduler runs with its leader lease, as in production; the old variants without (it
    did not exist, and their seconds-long scans would starve the renewals).
    """
    old = variant.startswith("scan")
    bus = await Bus.connect(url, stream="AUTOLOADER", name=f"bench-{variant}")
    await bus.ensure_stream()
    await bus.js.purge_stream("AUTOLOADER")
    started = time.perf_counter()
    await create_schedules(bus, count)
    created_s = time.perf_counter() - started
    store = EventStore(bus)

    clock = JumpClock(START)
    stop = asyncio.Event()
    lease = None if old else LeaderLease(CasBucket(bus, SCHEDULER_LEASE_BUCKET), f"bench-{variant}")
    schedules = ScanSchedules() if old else Schedules()
    kind = EachScheduler if variant == "heap_each" else MeasuredScheduler
    scheduler = kind(bus, clock, stop, lease=lease, schedules=schedules,
                     concurrency=1 if variant == "scan_sequential" else FIRE_CONCURRENCY)
    if lease is not None:
        lease.on_change = scheduler.leadership_changed
    started = time.perf_counter()
    await scheduler.replay()
    replay_s = time.perf_counter() - started
    gc.freeze()  # as the service does after its replay (autoloader_scheduler.app)
    task = asyncio.create_task(scheduler.run())
    await poll(lambda: scheduler.is_leader)

    per_minute = []
    try:
        for minute in range(1, minutes + 1):
            due = START.replace(second=0) + timedelta(minutes=minute)
            idle = plan_cost(schedules, due - timedelta(seconds=1), rounds=1 if old else 5)
            cpu, nats_cpu, wall = time.process_time(), nats_cpu_seconds(nats_pid), time.perf_counter()
            clock.jump_to(due)
            await poll(lambda: scheduler.fired(due) >= count)  # noqa: B023 - awaited here
            fired_s = time.perf_counter() - wall
            last = await store.last_sequence()
            await poll(lambda: scheduler._position >= last)  # noqa: B023 - the follower read the runs back
            lags = scheduler.lags[due]
            per_minute.append({
                "minute": minute,
                "fired_in_s": round(fired_s, 3),
                "lag_p50_s": round(percentile(lags, 0.5), 3),
                "lag_p99_s": round(percentile(lags, 0.99), 3),
                "cpu_s": round(time.process_time() - cpu, 3),
                "nats_cpu_s": round(nats_cpu_seconds(nats_pid) - nats_cpu, 3),
                "idle_plan_ms": round(idle * 1000, 3),
            })
            print(f"  {variant} minute {minute}: {per_minute[-1]}", flush=True)
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    lags = [lag for minute_lags in scheduler.lags.values() for lag in minute_lags]
    return {
        "variant": variant,
        "lease": lease is not None,
        "ticks": len(lags),
        "ticks_appended_twice": sum(1 for n in scheduler.appended.values() if n > 1),
        "create_s": round(created_s, 2),
        "replay_s": round(replay_s, 2),
        "lag_p50_s": round(percentile(lags, 0.5), 3),
        "lag_p99_s": round(percentile(lags, 0.99), 3),
        "lag_max_s": round(max(lags), 3),
        "cpu_s_per_minute": round(statistics.median(m["cpu_s"] for m in per_minute), 3),
        "nats_cpu_s_per_minute": round(statistics.median(m["nats_cpu_s"] for m in per_minute), 3),
        "idle_plan_ms": round(statistics.median(m["idle_plan_ms"] for m in per_minute), 3),
        "minutes": per_minute,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sched-") as tmp:
        server = NatsServer(Path(tmp) / "nats").start()
        try:
            assert server.process is not None
            for variant in args.variants.split(","):
                minutes = args.old_minutes if variant.startswith("scan") else args.minutes
                results.append(await run_variant(variant, args.schedules, minutes, server.process.pid, server.url))
        finally:
            server.stop()
    by = {r["variant"]: r for r in results}
    summary: dict[str, Any] = {"schedules": args.schedules, "cpus": os.cpu_count(), "variants": results}
    if "heap" in by and "scan" in by:
        heap, scan = by["heap"], by["scan"]
        summary["scan_over_heap"] = {
            "idle_plan": round(scan["idle_plan_ms"] / max(heap["idle_plan_ms"], 1e-6), 1),
            "cpu_per_minute": round(scan["cpu_s_per_minute"] / heap["cpu_s_per_minute"], 2),
            "lag_p99": round(scan["lag_p99_s"] / heap["lag_p99_s"], 2),
        }
    if "heap" in by and "heap_each" in by:
        each, heap = by["heap_each"], by["heap"]
        summary["each_over_heap"] = {
            "cpu_per_minute": round(each["cpu_s_per_minute"] / heap["cpu_s_per_minute"], 2),
            "lag_p99": round(each["lag_p99_s"] / heap["lag_p99_s"], 2),
        }
    if "heap" in by and "scan_sequential" in by:
        old, heap = by["scan_sequential"], by["heap"]
        summary["before_issue_13_over_now"] = {
            "cpu_per_minute": round(old["cpu_s_per_minute"] / heap["cpu_s_per_minute"], 2),
            "lag_p99": round(old["lag_p99_s"] / heap["lag_p99_s"], 2),
        }
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--old-minutes", type=int, default=2, help="minutes of the scan variants (slow)")
    parser.add_argument("--variants", default="heap,heap_each,scan,scan_sequential")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scheduler_ticks.json")
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    printable = {k: v for k, v in result.items() if k != "variants"}
    printable["variants"] = [{k: v for k, v in r.items() if k != "minutes"} for r in result["variants"]]
    print(json.dumps(printable, indent=2))
    arguments.out.parent.mkdir(exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)
