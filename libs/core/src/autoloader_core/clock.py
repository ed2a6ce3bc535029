"""Injectable clocks.

Services never call ``datetime.now`` directly: they take a :class:`Clock`, so tests can run a
scheduler through hours of simulated time in seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


def utcnow() -> datetime:
    """Return the current wall-clock time, timezone-aware in UTC."""
    return datetime.now(UTC)


@runtime_checkable  # the api injects clocks by type-checked dependency injection
class Clock(Protocol):
    """Source of "now" and of waiting until a moment."""

    def now(self) -> datetime:
        """Return the clock's current time (timezone-aware, UTC)."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once ``now() >= moment`` (or earlier if cancelled)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the wall-clock time."""
        return utcnow()

    async def sleep_until(self, moment: datetime) -> None:
        """Sleep in real time until ``moment``."""
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ScaledClock:
    """A clock that runs ``scale`` times faster than real time, starting at the real now.

    Used by end-to-end tests (``AUTOLOADER_CLOCK_SCALE``) so a running scheduler fires an
    every-minute schedule every real second without any test-only code path.
    """

    def __init__(self, scale: float, origin: datetime | None = None) -> None:
        if scale <= 0:
            raise ValueError("clock scale must be positive")
        self._scale = scale
        self._origin = origin or utcnow()
        self._start = time.monotonic()

    def now(self) -> datetime:
        """Return the simulated time."""
        elapsed = (time.monotonic() - self._start) * self._scale
        return self._origin + timedelta(seconds=elapsed)

    async def sleep_until(self, moment: datetime) -> None:
        """Sleep the real time that corresponds to reaching ``moment`` in simulated time."""
        delay = (moment - self.now()).total_seconds() / self._scale
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A manually advanced clock for unit tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        """Return the fake time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward and wake sleepers."""
        self._now += delta
        self._changed.set()

    async def sleep_until(self, moment: datetime) -> None:
        """Wait until the test advances the clock past ``moment``."""
        while self._now < moment:
            self._changed.clear()
            await self._changed.wait()


def clock_for(scale: float) -> Clock:
    """The real clock, or one running ``scale`` times faster (``AUTOLOADER_CLOCK_SCALE``, tests only)."""
    return SystemClock() if scale == 1 else ScaledClock(scale)
