"""A real Iceberg REST catalog server, one per test session, with its warehouse on the moto S3 server.

The server is Iceberg's own REST adapter (``tests/iceberg_rest/RestCatalogServer.java``) over a
``JdbcCatalog`` on SQLite, writing metadata and data with ``S3FileIO`` into a bucket of the
session's moto server. Its class path (Iceberg, the AWS SDK, Jetty, Hadoop's ``Configuration``;
~80 MB, listed in ``tests/iceberg_rest/pom.xml``) is fetched once from Maven Central with ``mvn``
into ``<cache>/iceberg-rest-<hash of the pom>``; Java runs the launcher from source, so no build step
is needed. It needs Java 17 with ``javac`` (the JDK) and Maven.

The server checks credentials like a real catalog: every request needs ``Authorization: Bearer
<token>``, and ``/v1/oauth/tokens`` exchanges the OAuth2 client credentials for that token. Use
:meth:`RestCatalogServer.client_properties` for a client (PyIceberg, Spark) that may reach it.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.source_envs.s3 import REGION, MotoS3Server
from tests.spark_env import cache_root, log_tail, stop_process

HERE = Path(__file__).parent / "iceberg_rest"
POM = HERE / "pom.xml"
LAUNCHER = HERE / "RestCatalogServer.java"
READY = "AUTOLOADER_REST_CATALOG_READY "
START_TIMEOUT = 120.0
STOP_GRACE = 10.0


def class_path() -> Path:
    """The folder of the server's jars, fetched once with ``mvn`` (a new pom fetches a new folder).

    Raises:
        RuntimeError: ``mvn`` is missing or the download fails (with mvn's output).
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    target = cache_root() / f"iceberg-rest-{digest}"
    if target.is_dir():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn not found: the REST catalog test server's jars come from Maven Central "
                           "(apt-get install maven)")
    staging = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    command = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"fetching the REST catalog server's jars failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    try:
        staging.rename(target)
    except OSError:  # another session fetched them first
        shutil.rmtree(staging, ignore_errors=True)
    return target


class RestCatalogServer:
    """An Iceberg REST catalog on 127.0.0.1 whose warehouse is ``s3://<bucket>/warehouse`` on ``s3``.

    Args:
        workdir: Folder for the SQLite backend, the properties file and ``server.log``.
        s3: The moto server holding the warehouse bucket.
    """

    def __init__(self, workdir: Path, s3: MotoS3Server) -> None:
        self.workdir = workdir
        self.s3 = s3
        self.bucket = s3.create_bucket(f"catalog-{uuid.uuid4().hex[:12]}")
        self.warehouse = f"s3://{self.bucket}/warehouse"
        self.token = secrets.token_urlsafe(24)
        self.client_id = f"autoloader-{uuid.uuid4().hex[:8]}"
        self.client_secret = secrets.token_urlsafe(24)
        self.log = workdir / "server.log"
        self.uri = ""
        self.process: subprocess.Popen[bytes] | None = None

    def s3_properties(self) -> dict[str, str]:
        """FileIO properties (PyIceberg and Iceberg Java share the names) for the warehouse bucket."""
        return {
            "s3.endpoint": self.s3.endpoint_url,
            "s3.access-key-id": self.s3.credentials["access_key_id"],
            "s3.secret-access-key": self.s3.credentials["secret_access_key"],
            "s3.region": REGION,
            "s3.path-style-access": "true",
        }

    def client_properties(self) -> dict[str, str]:
        """What a PyIceberg ``RestCatalog`` needs: the URI, the token and the warehouse's S3 properties."""
        return {"uri": self.uri, "token": self.token, **self.s3_properties()}

    def start(self) -> RestCatalogServer:
        """Fetch the jars (once), start the server and wait until it accepts requests.

        Raises:
            RuntimeError: Java or Maven is missing, or the server did not start (with its log).
        """
        java = shutil.which("java")
        if java is None or shutil.which("javac") is None:
            raise RuntimeError("java and javac not found: the REST catalog test server needs a JDK 17 "
                               "(apt-get install openjdk-17-jdk-headless)")
        jars = class_path()
        properties = self.workdir / "catalog.properties"
        properties.write_text("".join(f"{key}={value}\n" for key, value in self._properties().items()))
        with self.log.open("wb") as log:
            command = [java, "-cp", f"{jars}/*", str(LAUNCHER), str(properties)]
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.uri = self._wait_ready()
        return self

    def _properties(self) -> dict[str, str]:
        backend = {
            "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
            "uri": f"jdbc:sqlite:{self.workdir / 'catalog.db'}",
            "jdbc.schema-version": "V1",
            "warehouse": self.warehouse,
            "io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            "client.region": REGION,
            **self.s3_properties(),
        }
        server = {"server.host": "127.0.0.1", "server.port": "0", "server.token": self.token,
                  "server.client-id": self.client_id, "server.client-secret": self.client_secret}
        return {**server, **backend}

    def _wait_ready(self) -> str:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith(READY):
                    return line.removeprefix(READY).strip()
            if self.process.poll() is not None:
                raise RuntimeError(f"REST catalog server exited ({self.process.returncode}); "
                                   f"{self.log}:\n{log_tail(self.log)}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"REST catalog server not ready in {START_TIMEOUT:.0f} s; {self.log}:\n{log_tail(self.log)}")

    def stop(self) -> None:
        """Stop the server by its process id: SIGTERM, then SIGKILL after a grace period."""
        stop_process(self.process, STOP_GRACE)


@pytest.fixture(scope="session")
def rest_catalog_server(
    tmp_path_factory: pytest.TempPathFactory, moto_s3_server: MotoS3Server
) -> Iterator[RestCatalogServer]:
    """The session's Iceberg REST catalog (warehouse on the moto server), started on first request."""
    server = RestCatalogServer(tmp_path_factory.mktemp("rest-catalog"), moto_s3_server).start()
    try:
        yield server
    finally:
        server.stop()


def spark_catalog_conf(server: RestCatalogServer, name: str) -> dict[str, str]:
    """Spark settings that make ``name`` an Iceberg catalog on ``server`` (token auth, S3FileIO on moto).

    Needs the Iceberg runtime and ``iceberg-aws-bundle`` on the cluster (the ``spark_iceberg_url`` server).
    """
    prefix = f"spark.sql.catalog.{name}"
    io = {f"{prefix}.{key}": value for key, value in server.s3_properties().items() if key != "s3.region"}
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "rest",
        f"{prefix}.uri": server.uri,
        f"{prefix}.token": server.token,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.client.region": REGION,
        **io,
    }
