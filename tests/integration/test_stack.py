"""The embedded stack launcher: real NATS, PostgreSQL and the five service processes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from autoloader_cli.servers import free_port
from autoloader_cli.stack import SERVICES, Stack
from autoloader_core.errors import TerminalError

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); its state letter tells.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_failing_service_stops_everything_and_shows_its_log(tmp_path: Path) -> None:
    # The api gets a setting it cannot parse, so it exits; start() must say which service and why.
    stack = Stack(
        tmp_path / "data",
        port=free_port(),
        environ={k: v for k, v in os.environ.items() if not k.startswith("AUTOLOADER_")},
        service_env={"api": {"AUTOLOADER_API_PORT": "eighty"}},
        ready_timeout=60,
    )
    with pytest.raises(TerminalError, match=r"service api .*api\.log") as failure:
        stack.start()
    assert "AUTOLOADER_API_PORT" in failure.value.message
    assert stack.services == {}
    assert stack.nats is None
    assert stack.postgres is None
    assert _mode(tmp_path / "data" / "admin-token") == 0o600


@pytest.fixture
def stack_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOADER_")}
    env["AUTOLOADER_HEARTBEAT_SECONDS"] = "0.5"
    return env


def test_stack_starts_all_services_and_keeps_state_across_restarts(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    with Stack(data_dir, port=port, environ=stack_env) as stack:
        assert set(stack.services) == set(SERVICES)
        assert httpx.get(f"{stack.api_url}/health/ready").status_code == 200
        first_key = stack.api_key
        first_token = stack.admin_token
        pids = [service.pid for service in stack.services.values()]
        assert stack.landing_dir == (data_dir / "landing").resolve()
        assert stack.landing_dir.is_dir()
        stored = json.loads((data_dir / "default-tenant.json").read_text())
        assert stored["api_key"] == first_key
        assert _mode(data_dir / "default-tenant.json") == 0o600
        assert _mode(data_dir / "admin-token") == 0o600
        assert stack.admin_token_generated
        assert _mode(data_dir / "secret-keys") == 0o600
        first_keys = stack._settings.secret_keys
        assert first_keys

        stack.kill_service("loader")
        assert stack.dead_services() == ["loader"]
        stack.start_service("loader")
        assert stack.dead_services() == []
        assert stack.services["loader"].pid not in pids
        with pytest.raises(TerminalError, match="already running"):
            stack.start_service("loader")
    assert all(_gone(pid) for pid in pids)

    with Stack(data_dir, port=port, environ=stack_env) as again:
        assert again.api_key == first_key
        assert again.admin_token == first_token
        assert not again.admin_token_generated
        headers = {"Authorization": f"Bearer {first_key}"}
        response = httpx.get(f"{again.api_url}/api/v1/ingestions", headers=headers)
        assert response.status_code == 200
        assert response.json()["items"] == []
        assert again._settings.secret_keys == first_keys
        # The api process got the key: it can store credentials (shown masked).
        created = httpx.post(f"{again.api_url}/api/v1/ingestions", headers=headers, json={
            "name": "creds", "format": {"type": "csv"}, "destination": {"database": "d", "table": "t"},
            "source": {"type": "s3", "path": "s3://bkt/in/", "credentials": {"access_key_id": "AKIA1234",
                                                                            "secret_access_key": "s3cr3t-v4lue"}},
        })
        assert created.status_code == 201, created.text
        assert created.json()["source"]["credentials"] == {"access_key_id": "********", "secret_access_key": "********"}
