"""``autoloader up --with-observability``: a local Prometheus scraping every service of the stack.

Prometheus runs from the ``prometheus`` binary on PATH (Debian's ``prometheus`` package), with a
scrape config written for the stack's own ports (the background services each get one) and its
data under ``<data dir>/observability/``; it is stopped with the stack, by the pid started here.
Grafana has no package these machines can install (neither Debian nor PyPI nor npm ships its
server), so when no ``grafana`` binary is found the banner says how to point a Grafana at this
Prometheus with the dashboards of ``deploy/grafana/`` (docs/operations.md, "Observability").
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from autoloader_cli.servers import free_port
from autoloader_core.errors import TerminalError

READY_SECONDS = 30.0
STOP_SECONDS = 10.0
SCRAPE_INTERVAL = "5s"


@dataclass
class Observability:
    """What ``--with-observability`` started, and what it could not start (with the reason)."""

    prometheus_url: str | None = None
    not_started: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The Prometheus process id (None when it was not started)."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL after 10 s); nothing else is touched."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def scrape_config(metrics_urls: Mapping[str, str]) -> str:
    """A Prometheus config scraping each service's endpoint (job ``autoloader-<service>``, label ``service``).

    The jobs and labels are those of ``deploy/prometheus.yml``, so the dashboards work on either.
    """
    lines = ["global:", f"  scrape_interval: {SCRAPE_INTERVAL}", "scrape_configs:"]
    for service, url in sorted(metrics_urls.items()):
        parts = urlsplit(url)
        lines += [
            f"  - job_name: autoloader-{service}",
            f"    metrics_path: {parts.path or '/metrics'}",
            "    static_configs:",
            f'      - targets: ["{parts.netloc}"]',
            f"        labels: {{service: {service}}}",
        ]
    return "\n".join(lines) + "\n"


def start_observability(data_dir: Path, metrics_urls: Mapping[str, str], *, host: str = "127.0.0.1") -> Observability:
    """Start Prometheus on a free port of ``host`` scraping ``metrics_urls``, if its binary is installed.

    Raises:
        TerminalError: Prometheus is installed but did not become ready (the message holds its log tail).
    """
    observability = Observability()
    observability.not_started["grafana"] = (
        "no Grafana server is installed; see docs/operations.md (Observability) to run one on this Prometheus"
    )
    binary = shutil.which("prometheus")
    if binary is None:
        observability.not_started["prometheus"] = "the prometheus binary is not on PATH (apt-get install prometheus)"
        return observability
    home = data_dir / "observability"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(scrape_config(metrics_urls))
    address = f"{host}:{free_port()}"
    log = (home / "prometheus.log").open("ab")
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'prometheus-data'}",
        f"--web.listen-address={address}",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    log.close()
    observability._process = process
    observability.prometheus_url = f"http://{address}"
    _wait_ready(observability, process, observability.prometheus_url, home / "prometheus.log")
    return observability


def _wait_ready(observability: Observability, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    observability.stop()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise TerminalError(f"Prometheus did not become ready in {READY_SECONDS:.0f}s; its log ends:\n{tail}")
