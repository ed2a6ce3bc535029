"""Capped exponential backoff, and waiting for a server with it.

A server (NATS, PostgreSQL) that is down is a normal operating condition, not a reason for a
service to exit: services retry what needs the server with a delay that doubles up to a cap, so
a restart of the server is outlasted, and they stop waiting as soon as they are asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from autoloader_core.errors import TransientError

T = TypeVar("T")


class Stopped(Exception):
    """The service was asked to stop while waiting (not a failure: the caller just returns)."""


@dataclass
class Backoff:
    """Delays ``initial, initial*factor, ...`` capped at ``cap``; :meth:`reset` after a success.

    Args:
        initial: The first delay in seconds.
        factor: Growth of each following delay.
        cap: The longest delay.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    attempts: int = 0

    def peek(self) -> float:
        """The delay :meth:`next_delay` will return, without counting an attempt."""
        # The exponent is bounded so a long outage cannot overflow a float.
        return float(min(self.cap, self.initial * self.factor ** min(self.attempts, 64)))

    def next_delay(self) -> float:
        """Count a failed attempt and return how long to wait before the next one."""
        delay = self.peek()
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from the first delay (the last attempt succeeded)."""
        self.attempts = 0


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; return whether ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def retry_until_up(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    stop: asyncio.Event,
    log: logging.Logger,
    backoff: Backoff | None = None,
) -> T:
    """Run ``operation`` until it does not raise :class:`TransientError`, waiting between tries.

    Args:
        operation: Makes a fresh attempt each call (e.g. ``lambda: create_pool(url)``).
        what: The server waited for, for the log ("PostgreSQL").
        stop: Set when the service must stop; waiting ends at once.
        log: Where each wait is logged (the caller's logger names the service module).
        backoff: The delay policy (default: 0.5 s doubling up to 30 s).

    Raises:
        Stopped: ``stop`` was set before ``operation`` succeeded.
    """
    backoff = backoff or Backoff()
    while not stop.is_set():
        try:
            return await _unless_stopped(operation(), stop)
        except TransientError as exc:
            delay = backoff.next_delay()
            log.warning(
                "waiting for %s", what, extra={"error": exc.message, "retry_in": delay, "attempt": backoff.attempts}
            )
            if await sleep_or_stop(stop, delay):
                break
    raise Stopped(f"stopped while waiting for {what}")


async def _unless_stopped(attempt: Awaitable[T], stop: asyncio.Event) -> T:
    """Await ``attempt``, cancelling it when ``stop`` is set first (a connect may hang for long)."""
    task = asyncio.ensure_future(attempt)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise Stopped("stopped while waiting")
    return task.result()
