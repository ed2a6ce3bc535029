"""Composition root of the scheduler service: builds the clock and the lease, runs the scheduler."""

from __future__ import annotations

import gc

from autoloader_bus.kv import CasBucket
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.subjects import SCHEDULER_LEASE_BUCKET
from autoloader_core.clock import clock_for
from autoloader_scheduler.handlers import Scheduler
from autoloader_scheduler.lease import LeaderLease


async def body(runtime: ServiceRuntime) -> None:
    """Replay the schedules from the log, report ready, then fire due ticks while holding the lease.

    Every replica follows the log; only the one holding the leader lease fires.
    """
    settings = runtime.settings
    lease = LeaderLease(
        CasBucket(runtime.bus, SCHEDULER_LEASE_BUCKET),
        lease=settings.scheduler_lease_seconds,
        renew=settings.scheduler_renew_seconds,
    )
    scheduler = Scheduler(runtime.bus, clock_for(settings.clock_scale), runtime.stop, lease=lease)
    lease.on_change = scheduler.leadership_changed
    await scheduler.replay()
    # The replayed schedules live as long as the process: keep them out of the cyclic collector's
    # full passes. At 10,000 schedules each full pass took ~150 ms, several per minute's burst of
    # ticks (bench/scheduler_ticks.py does the same after its replay).
    gc.freeze()
    runtime.ready()
    await scheduler.run()
