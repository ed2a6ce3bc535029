"""Backoff policies: services waiting for a server, and the supervisor restarting services."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from autoloader_cli.supervisor import RestartPolicy, Supervisor
from autoloader_core.backoff import Backoff, Stopped, retry_until_up
from autoloader_core.errors import TransientError

pytestmark = pytest.mark.unit


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.5, factor=2.0, cap=4.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_survives_a_very_long_outage() -> None:
    backoff = Backoff(initial=1.0, cap=30.0)
    for _ in range(10_000):
        backoff.next_delay()
    assert backoff.peek() == 30.0


def test_restarts_back_off_1_2_4_up_to_30_seconds_and_never_give_up() -> None:
    policy = RestartPolicy()
    delays = [policy.delay_after_exit(ran_for=0.5) for _ in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert sum(delays) > 60  # together they outlast a server restart
    assert policy.restarts == 8


def test_a_service_that_ran_for_a_while_is_restarted_quickly_again() -> None:
    policy = RestartPolicy(stable_after=60.0)
    for _ in range(4):
        policy.delay_after_exit(ran_for=1.0)
    assert policy.delay_after_exit(ran_for=120.0) == 1.0


async def test_waiting_for_a_server_retries_transient_errors_and_logs_each_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    async def connect() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransientError("refused")
        return "connected"

    log = logging.getLogger("test.backoff")
    with caplog.at_level(logging.WARNING, logger="test.backoff"):
        result = await retry_until_up(
            connect, what="PostgreSQL", stop=asyncio.Event(), log=log, backoff=Backoff(initial=0.01)
        )
    assert result == "connected"
    assert [r.getMessage() for r in caplog.records] == ["waiting for PostgreSQL"] * 2


async def test_waiting_for_a_server_ends_at_once_when_stopped() -> None:
    stop = asyncio.Event()

    async def hangs() -> None:
        await asyncio.sleep(3600)

    waiting = asyncio.create_task(
        retry_until_up(hangs, what="NATS", stop=stop, log=logging.getLogger("test.backoff"))
    )
    await asyncio.sleep(0.05)
    stop.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(waiting, timeout=1)


@dataclass
class _Process:
    returncode: int | None = None


@dataclass
class _Service:
    pid: int
    process: _Process = field(default_factory=_Process)


@dataclass
class _FakeStack:
    """What the supervisor uses of a Stack: dead services, their log, and relaunching."""

    services: dict[str, _Service]
    launched: list[str] = field(default_factory=list)

    def dead_services(self) -> list[str]:
        return [name for name, s in self.services.items() if s.process.returncode is not None]

    def log_tail(self, name: str, lines: int = 30) -> str:
        return f"<{name} log>"

    def relaunch(self, name: str) -> _Service:
        self.launched.append(name)
        self.services[name] = _Service(pid=100 + len(self.launched))
        return self.services[name]


def test_the_supervisor_restarts_after_the_delay_and_reports_it() -> None:
    now = [0.0]
    stack = _FakeStack({"projector": _Service(pid=1), "loader": _Service(pid=2)})
    out = io.StringIO()
    supervisor = Supervisor(stack, out=out, clock=lambda: now[0])  # type: ignore[arg-type]

    def crash_and_wait(seconds: float) -> None:
        stack.services["projector"].process.returncode = -9
        supervisor.tick()
        now[0] += seconds - 0.01
        supervisor.tick()
        assert stack.launched.count("projector") == restarts_so_far[0], "restarted before its delay"
        now[0] += 0.02
        supervisor.tick()
        restarts_so_far[0] += 1
        assert stack.launched.count("projector") == restarts_so_far[0]

    restarts_so_far = [0]
    for delay in (1.0, 2.0, 4.0, 8.0):
        crash_and_wait(delay)
    assert stack.launched == ["projector"] * 4
    report: Any = out.getvalue()
    assert "service projector exited with code -9" in report
    assert "restarting it in 8s (restart 4)" in report
    assert "<projector log>" in report
    assert "restarted projector (pid 104)" in report
