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

    def __init__(self, tmp_path: Path, nats_url: str, database_url: str) -> None:
        self.port = free_port()
        self.out = tmp_path / "up.out"
        self.err = tmp_path / "up.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOADER_")}
        env |= {
            "AUTOLOADER_NATS_URL": nats_url,
            "AUTOLOADER_DATABASE_URL": database_url,
            "AUTOLOADER_ADMIN_TOKEN": ADMIN_TOKEN,
            "AUTOLOADER_HEARTBEAT_SECONDS": "0.5",
        }
        argv = [sys.executable, "-m", "autoloader_cli.main", "up", "--data-dir", str(tmp_path / "data"),
                "--port", str(self.port)]
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
