"""A real local Spark Connect server, one per test session, and the ``spark_connect_url`` fixture.

The loader depends only on ``pyspark-client`` (the pure-Python Connect client). Running a server
needs the full ``pyspark`` package (Spark jars, ~470 MB), which installs the same ``pyspark`` import
package and so cannot live in the project environment (ADR 0004). The fixture therefore installs
``pyspark==SPARK_VERSION`` once into a cache folder keyed by version (``uv pip install --target``)
and runs ``spark-submit`` from there with Java 17. Only sessions that request the fixture pay for
the install (~21 s cold, cached afterwards) and the start (~8 s until the port accepts).

Environment:
    AUTOLOADER_TEST_SPARK_HOME: use this Spark home (a folder with ``bin/spark-submit`` and ``jars``)
        instead of installing one.
    AUTOLOADER_TEST_SPARK_CACHE: where to install the server's ``pyspark`` (default
        ``$XDG_CACHE_HOME/autoloader`` or ``~/.cache/autoloader``).
    AUTOLOADER_TEST_SPARK_CONNECT_URL: an already running Spark Connect server (``sc://host:port``,
        e.g. the ``deploy/spark-iceberg`` compose profile). ``spark_connect_url`` returns it and no
        server is started; ``spark_connect_server`` (its log, its process) then skips the tests
        that need it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoloader_cli.servers import free_port
from tests.support import port_open

SPARK_VERSION = "4.2.0"
"""The server's Spark version; keep it equal to the ``pyspark-client`` minor the loader pins."""

START_TIMEOUT = 120.0
STOP_GRACE = 15.0


def _cache_root() -> Path:
    configured = os.environ.get("AUTOLOADER_TEST_SPARK_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "autoloader"


def _is_spark_home(path: Path) -> bool:
    return (path / "bin" / "spark-submit").is_file() and (path / "jars").is_dir()


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: the Spark test server is installed with `uv pip install`; put uv on PATH")
    return found


def spark_home() -> Path:
    """Return a Spark home with ``bin/spark-submit``, installing ``pyspark`` into the cache once.

    The install goes to a private temp folder that is renamed into place, so concurrent sessions
    never see a half-installed Spark.

    Raises:
        RuntimeError: When the install fails (the message includes uv's output).
    """
    configured = os.environ.get("AUTOLOADER_TEST_SPARK_HOME")
    if configured:
        if not _is_spark_home(Path(configured)):
            raise RuntimeError(f"AUTOLOADER_TEST_SPARK_HOME={configured} has no bin/spark-submit and jars/")
        return Path(configured)
    target = _cache_root() / f"spark-server-{SPARK_VERSION}"
    home = target / "pyspark"
    if _is_spark_home(home):
        return home
    staging = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    command = [_uv(), "pip", "install", "--quiet", "--python", sys.executable, "--target", str(staging)]
    result = subprocess.run([*command, f"pyspark=={SPARK_VERSION}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"installing pyspark=={SPARK_VERSION} for the Spark test server failed:\n{result.stderr}")
    try:
        staging.rename(target)
    except OSError:  # another session installed it first
        shutil.rmtree(staging, ignore_errors=True)
    if not _is_spark_home(home):
        raise RuntimeError(f"pyspark=={SPARK_VERSION} installed into {target} but {home} is not a Spark home")
    return home


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class SparkConnectServer:
    """A Spark Connect server (``local[2]``, 1 GiB driver) on 127.0.0.1, its files under ``workdir``.

    Args:
        workdir: Folder for the warehouse, scratch space and ``server.log``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``sc://127.0.0.1:port``."""
        return f"sc://127.0.0.1:{self.port}"

    def command(self, home: Path) -> list[str]:
        """The ``spark-submit`` argv that starts the Connect server."""
        conf = {
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(self.workdir / "warehouse"),
            "spark.local.dir": str(self.workdir / "scratch"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.workdir / 'derby'}",
        }
        argv = [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
        ]
        argv += ["--master", "local[2]", "--driver-memory", "1g"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return argv

    def start(self) -> SparkConnectServer:
        """Start the server and wait until its gRPC port accepts connections.

        Raises:
            RuntimeError: When Java is missing, or the server exits or does not open its port in time
                (the message ends with the log's tail).
        """
        if shutil.which("java") is None:
            raise RuntimeError(
                "java not found: the Spark test server needs Java 17 (apt-get install openjdk-17-jre-headless)"
            )
        home = spark_home()
        self.port = free_port()
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(self.workdir)}
        with self.log.open("wb") as log:
            # spark-submit execs java, so this pid is the JVM's.
            self.process = subprocess.Popen(self.command(home), stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Spark Connect server exited ({self.process.returncode}); {self.log}:\n{_tail(self.log)}"
                )
            if port_open(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"Spark Connect server did not open port {self.port} in {START_TIMEOUT:.0f}s:\n{_tail(self.log)}"
        )

    def stop(self) -> None:
        """Stop the server by its process id: SIGTERM, then SIGKILL after a grace period."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


EXTERNAL_URL_VAR = "AUTOLOADER_TEST_SPARK_CONNECT_URL"


def external_spark_url() -> str | None:
    """The Spark Connect server the tests were pointed at (``AUTOLOADER_TEST_SPARK_CONNECT_URL``), if any."""
    return os.environ.get(EXTERNAL_URL_VAR) or None


@pytest.fixture(scope="session")
def spark_connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkConnectServer]:
    """The session's Spark Connect server, started on first request (its log: ``server.log``)."""
    external = external_spark_url()
    if external is not None:
        pytest.skip(
            f"needs the test session's own Spark Connect server (its log and process); "
            f"{EXTERNAL_URL_VAR}={external} points at a server the tests do not run"
        )
    server = SparkConnectServer(tmp_path_factory.mktemp("spark")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark_connect_url(request: pytest.FixtureRequest) -> str:
    """``sc://host:port`` of the external server when one is configured, else of the session's own server."""
    external = external_spark_url()
    if external is not None:
        return external
    server: SparkConnectServer = request.getfixturevalue("spark_connect_server")
    return server.url
