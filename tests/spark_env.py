"""Real local Spark Connect servers, one of each kind per test session: ``spark_connect_url`` and ``spark_iceberg_url``.

The loader depends only on ``pyspark-client`` (the pure-Python Connect client). Running a server
needs the full ``pyspark`` package (Spark jars, ~470 MB), which installs the same ``pyspark`` import
package and so cannot live in the project environment (ADR 0004). The fixture therefore installs
``pyspark==SPARK_VERSION`` once into a cache folder keyed by version (``uv pip install --target``)
and runs ``spark-submit`` from there with Java 17. Only sessions that request the fixture pay for
the install (~21 s cold, cached afterwards) and the start (~8 s until the port accepts).

Two servers:
    ``spark_connect_url``: Spark ``SPARK_VERSION`` (the client's minor), no Iceberg: the ``staged``
        strategy, the probe, error handling.
    ``spark_iceberg_url``: Spark ``ICEBERG_SPARK_VERSION`` with the Iceberg runtime
        ``ICEBERG_RUNTIME`` (on the driver class path, fetched once from Maven Central with ``mvn`` into
        ``<cache>/jars``) and an Iceberg catalog ``ICEBERG_CATALOG`` (Hadoop catalog on a local
        warehouse, like ``deploy/spark-iceberg``): the ``native`` strategy for real. No Iceberg
        runtime exists for Spark 4.2, hence the older server (docs/spark.md, "Verified pairing").

Environment:
    AUTOLOADER_TEST_SPARK_HOME: use this Spark home (a folder with ``bin/spark-submit`` and ``jars``)
        instead of installing one.
    AUTOLOADER_TEST_SPARK_CACHE: where to install the server's ``pyspark`` (default
        ``$XDG_CACHE_HOME/autoloader`` or ``~/.cache/autoloader``).
    AUTOLOADER_TEST_SPARK_CONNECT_URL: an already running Spark Connect server (``sc://host:port``,
        e.g. the ``deploy/spark-iceberg`` compose profile). ``spark_connect_url`` returns it and no
        server is started; ``spark_connect_server`` (its log, its process) then skips the tests
        that need it.
    AUTOLOADER_TEST_SPARK_ICEBERG_URL: the same for ``spark_iceberg_url`` (a Spark with Iceberg and a
        catalog named ``lake``, e.g. the compose profile).
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
from tests.source_envs.s3 import REGION, MotoS3Server
from tests.support import port_open

SPARK_VERSION = "4.2.0"
"""The server's Spark version; keep it equal to the ``pyspark-client`` minor the loader pins."""

ICEBERG_SPARK_VERSION = "4.0.1"
"""Spark of the Iceberg server: the newest Spark line with an Iceberg runtime that pairs with 1.10 (docs/spark.md)."""
ICEBERG_RUNTIME = "org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.0"
"""Maven coordinates of the Iceberg runtime jar for ``ICEBERG_SPARK_VERSION`` (as in deploy/spark-iceberg)."""
ICEBERG_AWS_BUNDLE = "org.apache.iceberg:iceberg-aws-bundle:1.10.0"
"""Iceberg's S3FileIO with the AWS SDK, for catalogs whose warehouse is on S3 (the REST catalog's, in tests)."""
HADOOP_AWS = ("org.apache.hadoop:hadoop-aws:3.4.1", "software.amazon.awssdk:s3-transfer-manager:2.33.0")
"""The S3A file system for ``s3a://`` reads and writes by the cluster (hadoop-aws matches Spark 4.0's Hadoop
3.4.1; its AWS SDK v2 is iceberg-aws-bundle's, plus the transfer manager hadoop-aws needs beside it)."""
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.14"
"""PostgreSQL's JDBC driver: a Spark JDBC catalog reads the built-in catalog's tables (docs/spark.md)."""
ICEBERG_CATALOG = "lake"
"""The Iceberg catalog the server configures (clusters are registered with this ``catalog``)."""

START_TIMEOUT = 120.0
STOP_GRACE = 15.0


def cache_root() -> Path:
    """The folder test servers install into once (``AUTOLOADER_TEST_SPARK_CACHE``, else ``~/.cache/autoloader``)."""
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


def spark_home(version: str = SPARK_VERSION) -> Path:
    """Return a Spark ``version`` home with ``bin/spark-submit``, installing ``pyspark`` into the cache once.

    The install goes to a private temp folder that is renamed into place, so concurrent sessions
    never see a half-installed Spark.

    Raises:
        RuntimeError: When the install fails (the message includes uv's output).
    """
    configured = os.environ.get("AUTOLOADER_TEST_SPARK_HOME") if version == SPARK_VERSION else None
    if configured:
        if not _is_spark_home(Path(configured)):
            raise RuntimeError(f"AUTOLOADER_TEST_SPARK_HOME={configured} has no bin/spark-submit and jars/")
        return Path(configured)
    target = cache_root() / f"spark-server-{version}"
    home = target / "pyspark"
    if _is_spark_home(home):
        return home
    staging = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    command = [_uv(), "pip", "install", "--quiet", "--python", sys.executable, "--target", str(staging)]
    result = subprocess.run([*command, f"pyspark=={version}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"installing pyspark=={version} for the Spark test server failed:\n{result.stderr}")
    try:
        staging.rename(target)
    except OSError:  # another session installed it first
        shutil.rmtree(staging, ignore_errors=True)
    if not _is_spark_home(home):
        raise RuntimeError(f"pyspark=={version} installed into {target} but {home} is not a Spark home")
    return home


def maven_jar(coordinates: str) -> Path:
    """The jar ``group:artifact:version`` from Maven Central, fetched once into ``<cache>/jars`` with ``mvn``.

    Raises:
        RuntimeError: ``mvn`` is missing, or the download fails (the message includes mvn's output).
    """
    _, artifact, version = coordinates.split(":")
    folder = cache_root() / "jars"
    jar = folder / f"{artifact}-{version}.jar"
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            f"mvn not found: the Iceberg Spark test server needs {coordinates} from Maven Central "
            f"(apt-get install maven), or put the jar at {jar}"
        )
    staging = folder.with_name(f"jars.tmp-{uuid.uuid4().hex[:8]}")
    command = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={staging}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    fetched = staging / jar.name
    if result.returncode != 0 or not fetched.is_file():
        shutil.rmtree(staging, ignore_errors=True)
        output = f"{result.stdout}{result.stderr}"
        raise RuntimeError(f"fetching {coordinates} with mvn failed ({result.returncode}):\n{output}")
    folder.mkdir(parents=True, exist_ok=True)
    fetched.replace(jar)  # atomic: a concurrent session sees the whole jar or none
    shutil.rmtree(staging, ignore_errors=True)
    return jar


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` of a server's log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class SparkConnectServer:
    """A Spark Connect server (``local[2]``, 1 GiB driver) on 127.0.0.1, its files under ``workdir``.

    Args:
        workdir: Folder for the warehouse, scratch space and ``server.log``.
        version: The Spark version to run (installed into the cache on first use).
        packages: Maven coordinates of jars to put on the driver's class path (fetched once with ``mvn``).
        conf: Extra Spark configuration.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        version: str = SPARK_VERSION,
        packages: tuple[str, ...] = (),
        conf: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.version = version
        self.packages = packages
        self.extra_conf = dict(conf or {})
        self.log = workdir / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``sc://127.0.0.1:port``."""
        return f"sc://127.0.0.1:{self.port}"

    def command(self, home: Path, jars: list[Path] | None = None) -> list[str]:
        """The ``spark-submit`` argv that starts the Connect server."""
        conf = {
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(self.workdir / "warehouse"),
            "spark.local.dir": str(self.workdir / "scratch"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.workdir / 'derby'}",
            **self.extra_conf,
        }
        argv = [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
        ]
        argv += ["--master", "local[2]", "--driver-memory", "1g"]
        if jars:
            # On the driver's class path (local mode: the executors share its JVM) rather than --jars,
            # which copies every jar into the scratch folder at each start.
            argv += ["--driver-class-path", os.pathsep.join(str(j) for j in jars)]
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
        home = spark_home(self.version)
        jars = [maven_jar(p) for p in self.packages]
        self.port = free_port()
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(self.workdir)}
        with self.log.open("wb") as log:
            # spark-submit execs java, so this pid is the JVM's.
            self.process = subprocess.Popen(self.command(home, jars), stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Spark Connect server exited ({self.process.returncode}); {self.log}:\n{log_tail(self.log)}"
                )
            if port_open(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"Spark Connect server did not open port {self.port} in {START_TIMEOUT:.0f}s:\n{log_tail(self.log)}"
        )

    def stop(self) -> None:
        """Stop the server by its process id: SIGTERM, then SIGKILL after a grace period."""
        stop_process(self.process, STOP_GRACE)


def stop_process(process: subprocess.Popen[bytes] | None, grace: float) -> None:
    """Stop a test server's process by its id: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
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


ICEBERG_URL_VAR = "AUTOLOADER_TEST_SPARK_ICEBERG_URL"


def iceberg_server(
    workdir: Path, catalogs: dict[str, str] | None = None, s3a: dict[str, str] | None = None
) -> SparkConnectServer:
    """A Spark ``ICEBERG_SPARK_VERSION`` Connect server with the Iceberg runtime and the catalog ``ICEBERG_CATALOG``.

    The catalog is a Hadoop catalog on ``workdir/lake`` (metadata next to the data, namespaces are
    folders), the same configuration as ``deploy/spark-iceberg``; the Iceberg SQL extensions are on.
    ``catalogs`` adds the settings of more catalogs (the REST catalog, in the session fixture), and
    ``s3a`` the ``fs.s3a.*`` settings of the object store the cluster reaches itself. The Spark UI
    serves on ``server.ui_port`` so tests can read Spark's own task metrics (bytes read).
    """
    warehouse = workdir / ICEBERG_CATALOG
    # A Hadoop catalog whose warehouse folder does not exist yet answers SHOW NAMESPACES with
    # NoSuchNamespaceException; a real cluster's warehouse exists.
    warehouse.mkdir(parents=True, exist_ok=True)
    prefix = f"spark.sql.catalog.{ICEBERG_CATALOG}"
    conf = {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "hadoop",
        f"{prefix}.warehouse": warehouse.as_uri(),
        **(catalogs or {}),
        **{f"spark.hadoop.fs.s3a.{key}": value for key, value in (s3a or {}).items()},
        "spark.ui.enabled": "true",
        "spark.ui.port": str(free_port()),
    }
    packages = (ICEBERG_RUNTIME, ICEBERG_AWS_BUNDLE, *HADOOP_AWS, POSTGRES_JDBC)
    return SparkConnectServer(workdir, version=ICEBERG_SPARK_VERSION, packages=packages, conf=conf)


def s3a_conf(s3: MotoS3Server) -> dict[str, str]:
    """``fs.s3a.*`` settings that let the cluster read and write every bucket of the moto server."""
    return {
        "endpoint": s3.endpoint_url,
        "endpoint.region": REGION,
        "path.style.access": "true",
        "connection.ssl.enabled": "false",
        "access.key": s3.credentials["access_key_id"],
        "secret.key": s3.credentials["secret_access_key"],
    }


def spark_ui_port(server: SparkConnectServer) -> int:
    """The Spark UI port an :func:`iceberg_server` serves on (its REST API reports task metrics)."""
    return int(server.extra_conf["spark.ui.port"])


REST_CATALOG_IN_SPARK = "rest"
"""The Iceberg server's catalog on the session's REST catalog server (a cluster's ``catalog`` for native → REST)."""


@pytest.fixture(scope="session")
def spark_iceberg_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[SparkConnectServer]:
    """The session's Spark Connect server with Iceberg, started on first request.

    Catalogs: ``lake`` (Hadoop, local) and ``rest`` (the session's REST catalog server, warehouse on
    the moto S3 server), configured at start as a real cluster's would be. It does not skip when it
    cannot start: the ``native`` tests then fail with the reason.
    """
    from tests.catalog_env import RestCatalogServer, spark_catalog_conf  # catalog_env imports this module

    external = os.environ.get(ICEBERG_URL_VAR)
    if external:
        pytest.skip(f"needs the test session's own Iceberg Spark server; {ICEBERG_URL_VAR}={external} is external")
    rest: RestCatalogServer = request.getfixturevalue("rest_catalog_server")
    catalogs = spark_catalog_conf(rest, REST_CATALOG_IN_SPARK)
    server = iceberg_server(tmp_path_factory.mktemp("spark-iceberg"), catalogs, s3a_conf(rest.s3)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark_iceberg_url(request: pytest.FixtureRequest) -> str:
    """``sc://host:port`` of a Spark with Iceberg: ``AUTOLOADER_TEST_SPARK_ICEBERG_URL``, else the session's own."""
    external = os.environ.get(ICEBERG_URL_VAR)
    if external:
        return external
    server: SparkConnectServer = request.getfixturevalue("spark_iceberg_server")
    return server.url
