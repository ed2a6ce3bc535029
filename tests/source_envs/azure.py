"""Azure Blob places for the connector behaviour suite and the end-to-end tests: a real Azurite.

Azurite (npm ``azurite@3.35.0``, pinned in ``tests/node/package-lock.json``) runs as a separate
process on a free 127.0.0.1 port for the whole session, so it keeps serving while a test's event
loop is idle and the stack's services (separate processes) can reach it too. ``npm ci`` runs once
when ``tests/node/node_modules`` is missing (CI runs the same line up front).

``--loose`` only ignores unsupported headers; Azurite still verifies SharedKey signatures, so a
wrong ``AccountKey`` is refused with 403 AuthorizationFailure. ``--skipApiVersionCheck`` lets the
current SDK's API version through.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob.aio import ContainerClient

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec
from tests.support import port_open

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
AZURITE_BIN = NODE_DIR / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development key (public, documented by Microsoft)."""
UPLOAD_BLOCK = 1024 * 1024
WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="
"""A well-formed base64 key Azurite refuses (signature mismatch)."""


def ensure_azurite_installed() -> Path:
    """Install the pinned Azurite into tests/node once (``npm ci``); return the azurite-blob binary.

    Raises:
        RuntimeError: npm is missing or the install failed.
    """
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: install Node.js 20 (Azurite 3.35 runs the Azure Blob tests)")
    # Test sessions may start together (several pytest runs): one installs, the others wait.
    with open(Path(tempfile.gettempdir()) / "autoloader-npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AZURITE_BIN.exists():
            subprocess.run([npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
    return AZURITE_BIN



@dataclass
class AzuriteServer:
    """An Azurite blob service in its own process, storing blobs under ``location``."""

    location: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """The blob endpoint of the dev account (path-style: the account is the first segment)."""
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, key: str = ACCOUNT_KEY) -> str:
        """A connection string for the dev account (``key`` may be wrong on purpose)."""
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.endpoint_url};")

    def start(self, timeout: float = 60.0) -> AzuriteServer:
        """Start Azurite and wait until its port answers.

        Raises:
            RuntimeError: It exited or did not answer within ``timeout`` seconds.
        """
        binary = ensure_azurite_installed()
        self.location.mkdir(parents=True, exist_ok=True)
        log = self.location / "azurite.log"
        args = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--loose",
                "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--location", str(self.location)]
        with log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not start on port {self.port}: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the process we started (SIGTERM, SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def container_client(self, container: str) -> ContainerClient:
        """An async client of ``container`` with valid credentials (use it with ``async with``).

        Uploads go in blocks of at most 1 MiB: aiohttp warns (a ResourceWarning, an error in the
        tests) about request bodies above that.
        """
        return ContainerClient.from_connection_string(self.connection_string(), container,
                                                      max_single_put_size=UPLOAD_BLOCK, max_block_size=UPLOAD_BLOCK)

    async def create_container(self, container: str) -> None:
        """Create ``container`` (no error when it exists)."""
        async with self.container_client(container) as client:
            with contextlib.suppress(ResourceExistsError):
                await client.create_container()

    async def put(self, container: str, name: str, data: bytes) -> None:
        """Create or overwrite blob ``name`` in ``container``."""
        async with self.container_client(container) as client:
            await client.upload_blob(name, data, overwrite=True)

    def spec(self, container: str, prefix: str = "data/", *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        """An ``azure_blob`` source spec for ``container``/``prefix`` on this server."""
        return SourceSpec(type="azure_blob", path=f"https://{ACCOUNT}.blob.core.windows.net/{container}/{prefix}",
                          file_pattern=pattern, exclude_pattern=exclude,
                          options={"endpoint_url": self.endpoint_url, **(options or {})})


def unique_container() -> str:
    """A fresh, valid container name (3-63 lowercase letters, digits and dashes)."""
    return f"t-{uuid.uuid4().hex[:20]}"


class AzureBlobPlace:
    """A fresh container on the session's Azurite; files go under ``data/``."""

    source_type = "azure_blob"

    def __init__(self, server: AzuriteServer, container: str) -> None:
        self.server = server
        self.container = container
        self.credentials: dict[str, str] | None = {"connection_string": server.connection_string()}
        self.bad_credentials: dict[str, str] | None = {"connection_string": server.connection_string(WRONG_KEY)}

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return self.server.spec(self.container, pattern=pattern, exclude=exclude, options=options)

    def missing_spec(self) -> SourceSpec:
        return self.server.spec(unique_container())

    async def put(self, relative: str, data: bytes) -> None:
        await self.server.put(self.container, "data/" + relative, data)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Azurite shared by the session (tests use their own containers)."""
    server = AzuriteServer(tmp_path_factory.mktemp("azurite")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def azure_blob_place(azurite: AzuriteServer) -> AzureBlobPlace:
    """A fresh, empty container on Azurite."""
    container = unique_container()
    await azurite.create_container(container)
    return AzureBlobPlace(azurite, container)
