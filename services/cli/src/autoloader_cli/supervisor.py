"""``autoloader up`` keeps its services running: a service that exits is started again, forever.

The delay before a restart doubles with each exit in a row (1, 2, 4, ... capped at 30 s) and
starts again from 1 s once the service has run for a while, so a crash loop does not spin the
machine, and an outage of NATS or PostgreSQL longer than any fixed number of restarts is
outlasted (the services themselves wait for their servers in process; restarts are for crashes).
Each exit and restart is printed with the service's last log lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from autoloader_core.backoff import Backoff

if TYPE_CHECKING:
    from autoloader_cli.stack import Stack

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
"""A service that ran this long before exiting counts as healthy: its next restart is quick again."""
POLL_SECONDS = 0.5


@dataclass
class RestartPolicy:
    """How long to wait before restarting one service after it exited.

    Args:
        first: The delay after the first exit (or after an exit following a stable run).
        cap: The longest delay.
        stable_after: Seconds of running that reset the delay to ``first``.
    """

    first: float = FIRST_DELAY_SECONDS
    cap: float = MAX_DELAY_SECONDS
    stable_after: float = STABLE_AFTER_SECONDS
    restarts: int = 0
    _backoff: Backoff = field(init=False)

    def __post_init__(self) -> None:
        self._backoff = Backoff(initial=self.first, factor=2.0, cap=self.cap)

    def delay_after_exit(self, ran_for: float) -> float:
        """Count an exit of a process that ran ``ran_for`` seconds; return the delay before restarting it."""
        if ran_for >= self.stable_after:
            self._backoff.reset()
        self.restarts += 1
        return self._backoff.next_delay()


@dataclass
class Supervisor:
    """Restarts the dead services of ``stack`` according to one :class:`RestartPolicy` each.

    Args:
        stack: The running stack.
        out: Where exits and restarts are reported (the terminal of ``autoloader up``).
        clock: Monotonic seconds (tests pass their own).
    """

    stack: Stack
    out: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    policies: dict[str, RestartPolicy] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        for name in self.stack.services:
            self.started_at.setdefault(name, now)

    def tick(self) -> None:
        """Look at every service once: schedule a restart for a new exit, restart what is due."""
        now = self.clock()
        for name in self.stack.dead_services():
            if name not in self.due:
                self._schedule(name, now)
            elif now >= self.due[name]:
                self._restart(name, now)

    def run_forever(self, poll: float = POLL_SECONDS) -> None:
        """Tick every ``poll`` seconds until interrupted (KeyboardInterrupt, SIGTERM)."""
        while True:
            self.tick()
            time.sleep(poll)

    def _schedule(self, name: str, now: float) -> None:
        policy = self.policies.setdefault(name, RestartPolicy())
        ran_for = now - self.started_at.get(name, now)
        delay = policy.delay_after_exit(ran_for)
        self.due[name] = now + delay
        code = self.stack.services[name].process.returncode
        self._say(
            f"service {name} exited with code {code} after {ran_for:.0f}s; restarting it in {delay:.0f}s "
            f"(restart {policy.restarts}); last log lines:\n{self.stack.log_tail(name, 15)}"
        )

    def _restart(self, name: str, now: float) -> None:
        del self.due[name]
        try:
            service = self.stack.relaunch(name)
        except Exception as exc:  # a failed launch is retried with the next, longer delay
            self._say(f"restart of {name} failed: {exc}")
            self.started_at[name] = now
            return
        self.started_at[name] = now
        self._say(f"restarted {name} (pid {service.pid}); it reports serving once its servers answer")

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)
