"""`autoloader up --with-observability`: a real Prometheus scrapes every service, and stops with the stack."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from autoloader_cli.observability import scrape_config
from autoloader_cli.stack import SERVICES
from tests.conftest import unique
from tests.integration.test_cli_up import Launcher, _gone, _wait

pytestmark = pytest.mark.integration

PROMETHEUS_LINE = re.compile(r"Prometheus:\s+(http://\S+)\s+\(scrapes every service, pid (\d+)\)")


def test_the_scrape_config_names_each_service_like_the_compose_one() -> None:
    config = scrape_config({"api": "http://127.0.0.1:8000/metrics", "loader": "http://127.0.0.1:9464/metrics"})
    assert "  - job_name: autoloader-api\n    metrics_path: /metrics\n" in config
    assert '      - targets: ["127.0.0.1:9464"]\n        labels: {service: loader}\n' in config


def _targets_up(prometheus: str) -> dict[str, str]:
    response = httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
    assert response.status_code == 200, response.text
    return {t["labels"]["service"]: t["health"] for t in response.json()["data"]["activeTargets"]}


NO_PROMETHEUS = "needs Debian's prometheus package (.ci/run installs it)"


@pytest.mark.skipif(shutil.which("prometheus") is None, reason=NO_PROMETHEUS)
def test_up_with_observability_starts_a_prometheus_that_scrapes_every_service(
    tmp_path: Path, nats_url: str, postgres_admin_url: str
) -> None:
    launcher = Launcher(tmp_path, nats_url, postgres_admin_url.rsplit("/", 1)[0] + "/" + unique("obs"),
                        "--with-observability")
    try:
        _wait(launcher.banner_shown, 120, "the banner")
        found = PROMETHEUS_LINE.search(launcher.out.read_text())
        assert found is not None, launcher.out.read_text()
        prometheus, pid = found.group(1), int(found.group(2))
        assert "Grafana:" in launcher.out.read_text()  # says why it was not started

        _wait(lambda: _targets_up(prometheus) == dict.fromkeys(SERVICES, "up"), 60, "every service scraped")
        # The series the dashboards read are there, under the compose file's job and service labels.
        query = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job=~"autoloader-.*"}'}, timeout=5)
        up = {r["metric"]["service"]: (r["metric"]["job"], r["value"][1]) for r in query.json()["data"]["result"]}
        assert up == {service: (f"autoloader-{service}", "1") for service in SERVICES}
    finally:
        launcher.process.send_signal(signal.SIGTERM)
        launcher.process.wait(timeout=60)
    assert _gone(pid), "Prometheus outlived the stack"
