"""Composition root of the scheduler service: builds the clock and runs the scheduler."""

from __future__ import annotations

from autoloader_bus.runtime import ServiceRuntime
from autoloader_core.clock import Clock, ScaledClock, SystemClock
from autoloader_core.settings import Settings
from autoloader_scheduler.handlers import Scheduler


def build_clock(settings: Settings) -> Clock:
    """Return the real clock, or a sped-up one when ``AUTOLOADER_CLOCK_SCALE`` is not 1 (tests)."""
    if settings.clock_scale == 1:
        return SystemClock()
    return ScaledClock(settings.clock_scale)


async def body(runtime: ServiceRuntime) -> None:
    """Replay the schedules from the log, report ready, then fire due ticks until stopped."""
    scheduler = Scheduler(runtime.bus, build_clock(runtime.settings), runtime.stop)
    await scheduler.replay()
    runtime.ready()
    await scheduler.run()
