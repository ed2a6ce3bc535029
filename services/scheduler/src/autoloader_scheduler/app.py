"""Composition root of the scheduler service: builds the clock and runs the scheduler."""

from __future__ import annotations

from autoloader_bus.runtime import ServiceRuntime
from autoloader_core.clock import clock_for
from autoloader_scheduler.handlers import Scheduler


async def body(runtime: ServiceRuntime) -> None:
    """Replay the schedules from the log, report ready, then fire due ticks until stopped."""
    scheduler = Scheduler(runtime.bus, clock_for(runtime.settings.clock_scale), runtime.stop)
    await scheduler.replay()
    runtime.ready()
    await scheduler.run()
