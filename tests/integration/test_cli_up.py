"""`autoloader up` as an operator runs it: it restarts a killed service, and leaves no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from autoloader_cli.servers import free_port
from tests.conftest import unique

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "up-admin-token"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")  # a zombie still answers kill(0)
    return not status.exists() or "State:\tZ" in status.read_text()


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.2)


class Launcher:
    """One `autoloader up` process on the test's NATS and database."""

    def __init__(self, tmp_path: Path, nats_url: str, database_url: str, *extra_args: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.out = tmp_path / "up.out"
        self.err = tmp_path / "up.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOADER_")}
        env |= {
            "AUTOLOADER_NATS_URL": nats_url,
            "AUTOLOADER_DATABASE_URL": database_url,
            "AUTOLOADER_ADMIN_TOKEN": ADMIN_TOKEN,
            "AUTOLOADER_HEARTBEAT_SECONDS": "0.5",
        } | (extra_env or {})
        argv = [sys.executable, "-m", "autoloader_cli.main", "up", "--data-dir", str(tmp_path / "data"),
                "--port", str(self.port), *extra_args]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def banner_shown(self) -> bool:
        assert self.process.poll() is None, f"`autoloader up` exited:\n{self.err.read_text()}"
        return "Autoloader is running." in self.out.read_text()

    def pids(self) -> dict[str, tuple[int, str]]:
        """Service name -> (pid, status) from the admin status endpoint."""
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/status",
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        assert response.status_code == 200, response.text
        return {s["service"]: (s["pid"], s["status"]) for s in response.json()["services"]}


@pytest.fixture
def launcher(tmp_path: Path, nats_url: str, postgres_admin_url: str) -> Iterator[Launcher]:
    running = Launcher(tmp_path, nats_url, postgres_admin_url.rsplit("/", 1)[0] + "/" + unique("up"))
    try:
        _wait(running.banner_shown, 120, "the banner")
        yield running
    finally:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            running.process.wait(60)


def test_up_restarts_a_killed_service_and_its_children_die_with_it(launcher: Launcher) -> None:
    # The banner comes only once every service says it is serving.
    before = launcher.pids()
    assert set(before) == {"api", "scheduler", "discovery", "loader", "projector"}
    assert {status for _pid, status in before.values()} == {"ready"}

    old_pid = before["projector"][0]
    os.kill(old_pid, signal.SIGKILL)

    def restarted() -> bool:
        pid, status = launcher.pids().get("projector", (old_pid, ""))
        return pid != old_pid and status == "ready"

    _wait(restarted, 30, "the supervisor to restart the projector")
    stderr = launcher.err.read_text()
    assert "service projector exited with code -9" in stderr
    assert "restarting it in 1s" in stderr
    after = launcher.pids()
    assert {name: pid for name, (pid, _s) in after.items() if name != "projector"} == {
        name: pid for name, (pid, _s) in before.items() if name != "projector"
    }

    # The launcher dies without a chance to stop anything: its services notice and stop themselves.
    launcher.process.kill()
    launcher.process.wait()
    children = [pid for pid, _status in after.values()]
    _wait(lambda: all(_gone(pid) for pid in children), 30, "the orphaned services to exit")


async def _append_every_minute_ingestion(nats_url: str) -> str:
    from datetime import UTC, datetime

    from autoloader_bus.connection import Bus
    from autoloader_bus.event_store import EventStore
    from autoloader_contracts.events import IngestionCreated
    from autoloader_contracts.ingestion import (
        DestinationSpec,
        FormatSpec,
        IngestionConfig,
        ScheduleSpec,
        SourceSpec,
    )
    from autoloader_core.ids import new_id

    bus = await Bus.connect(nats_url, stream="AUTOLOADER", name="test")
    try:
        ingestion = new_id("ing")
        config = IngestionConfig(name="orders", source=SourceSpec(type="local", path="/nonexistent"),
                                 format=FormatSpec(type="csv"),
                                 schedule=ScheduleSpec(frequency="cron", cron_expression="* * * * *"),
                                 destination=DestinationSpec(database="raw", table="orders"))
        created = IngestionCreated(event_id=new_id("evt"), occurred_at=datetime.now(UTC), tenant_id=new_id("tnt"),
                                   aggregate_id=ingestion, actor="key:test", correlation_id=new_id("cor"),
                                   config=config, status="active")
        await EventStore(bus).append(created, expected_version=0)
        return ingestion
    finally:
        await bus.close()


async def _scheduled_runs_and_leader(nats_url: str, ingestion: str) -> tuple[list[object], int | None]:
    """The scheduled due times of ``ingestion`` in the log, and the pid holding the scheduler lease."""
    import msgspec

    from autoloader_bus.connection import Bus
    from autoloader_bus.event_store import EventStore
    from autoloader_bus.kv import CasBucket
    from autoloader_contracts.events import RunRequested
    from autoloader_contracts.subjects import SCHEDULER_LEASE_BUCKET, events_of

    bus = await Bus.connect(nats_url, stream="AUTOLOADER", name="test")
    try:
        stored = await EventStore(bus).read_subject(events_of(RunRequested))
        due = [s.event.scheduled_for for s in stored
               if isinstance(s.event, RunRequested) and s.event.ingestion_id == ingestion]
        record = await CasBucket(bus, SCHEDULER_LEASE_BUCKET).get("leader")
        pid = None if record is None else int(msgspec.json.decode(record.value)["pid"])
        return due, pid
    finally:
        await bus.close()


def test_up_with_two_scheduler_replicas_survives_a_killed_leader(
    tmp_path: Path, nats_url: str, postgres_admin_url: str
) -> None:
    import asyncio
    from collections import Counter

    database_url = postgres_admin_url.rsplit("/", 1)[0] + "/" + unique("up")
    # 30x: a per-minute cron fires every 2 real seconds.
    launcher = Launcher(tmp_path, nats_url, database_url, "--scheduler-replicas", "2",
                        extra_env={"AUTOLOADER_CLOCK_SCALE": "30"})
    try:
        _wait(launcher.banner_shown, 120, "the banner")
        banner = launcher.out.read_text()
        assert "Schedulers:   2 replicas" in banner
        response = httpx.get(f"http://127.0.0.1:{launcher.port}/api/v1/status",
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        schedulers = [s for s in response.json()["services"] if s["service"] == "scheduler"]
        assert len(schedulers) == 2
        assert {s["status"] for s in schedulers} == {"ready"}

        ingestion = asyncio.run(_append_every_minute_ingestion(nats_url))
        state: dict[str, tuple[list[object], int | None]] = {}

        def runs_at_least(count: int) -> bool:
            state["now"] = asyncio.run(_scheduled_runs_and_leader(nats_url, ingestion))
            return len(state["now"][0]) >= count

        _wait(lambda: runs_at_least(2), 30, "two scheduled runs")
        before, leader = state["now"]
        assert leader in {s["pid"] for s in schedulers}
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait(lambda: runs_at_least(len(before) + 1), 15, "a scheduled run after the leader was killed")
        # The 3 s lease lapses, a follower takes it and fires the tick that fell due meanwhile
        # (its sped-up clock may run up to a second behind the dead leader's).
        assert time.monotonic() - killed_at < 8
        _wait(lambda: runs_at_least(len(before) + 2), 15, "the next scheduled run")
        after, new_leader = state["now"]
        assert new_leader is not None
        assert new_leader != leader
        assert Counter(after).most_common(1)[0][1] == 1, "a tick was requested twice"
    finally:
        if launcher.process.poll() is None:
            launcher.process.send_signal(signal.SIGTERM)
            launcher.process.wait(60)
