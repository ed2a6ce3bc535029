"""A real SFTP server (asyncssh, chrooted, password and key auth) and the ``sftp_place`` fixture.

:class:`SftpServer` runs on its own event loop in its own thread, so it keeps serving while a
test's event loop is idle and while the e2e stack's processes connect.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec
from tests.source_envs.remote_files import write_file

USER = "loader"
PASSWORD = "sftp-secret-pw"


class _Auth(asyncssh.SSHServer):
    """One user, with a password or one of the authorised public keys."""

    def __init__(self, user: str, password: str, keys: list[asyncssh.SSHKey]) -> None:
        self._user = user
        self._password = password
        self._keys = keys

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._user and password == self._password

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        wanted = key.export_public_key()
        return username == self._user and any(k.export_public_key() == wanted for k in self._keys)


class SftpServer:
    """An asyncssh SFTP server on 127.0.0.1, chrooted to ``root``, with a fresh ed25519 host key.

    Args:
        root: The folder clients see as ``/``.
        user: Login name.
        password: Login password.
    """

    def __init__(self, root: Path, *, user: str = USER, password: str = PASSWORD) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        """A private key the server accepts for ``user`` (key-auth tests)."""
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None

    @property
    def url(self) -> str:
        """``sftp://127.0.0.1:port``, without a trailing slash."""
        return f"sftp://{self.host}:{self.port}"

    @property
    def public_host_key(self) -> str:
        """The server's public host key as ``ssh-ed25519 AAAA...`` (for ``options.host_key``)."""
        return " ".join(self.host_key.export_public_key().decode().split()[:2])

    @property
    def credentials(self) -> dict[str, str]:
        """Valid password credentials."""
        return {"username": self.user, "password": self.password}

    @property
    def key_credentials(self) -> dict[str, str]:
        """Valid private-key credentials."""
        return {"username": self.user, "private_key": self.client_key.export_private_key().decode()}

    def start(self) -> SftpServer:
        """Listen on a free port, serving from a background thread with its own event loop."""
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._thread.start()
        self.port = free_port()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)
        return self

    async def _listen(self) -> None:
        root = str(self.root).encode()
        self._acceptor = await asyncssh.listen(
            self.host, self.port, server_host_keys=[self.host_key],
            server_factory=lambda: _Auth(self.user, self.password, [self.client_key]),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root), allow_scp=False,
        )

    async def _close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._loop.shutdown_asyncgens()

    def stop(self) -> None:
        """Close the listener and its connections, stop the loop and join the thread."""
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._thread = None

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SftpPlace:
    """A fresh folder under the SFTP server's chroot."""

    source_type = "sftp"

    def __init__(self, server: SftpServer) -> None:
        self.server = server
        self.name = f"place-{uuid.uuid4().hex[:10]}"
        self.folder = server.root / self.name
        self.folder.mkdir()
        self.credentials: dict[str, str] | None = server.credentials
        self.bad_credentials: dict[str, str] | None = {"username": server.user, "password": "wrong-password"}

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return SourceSpec(type="sftp", path=f"{self.server.url}/{self.name}/", file_pattern=pattern,
                          exclude_pattern=exclude,
                          options={"host_key": self.server.public_host_key, **(options or {})})

    def missing_spec(self) -> SourceSpec:
        return SourceSpec(type="sftp", path=f"{self.server.url}/missing-{uuid.uuid4().hex[:8]}/",
                          options={"host_key": self.server.public_host_key})

    async def put(self, relative: str, data: bytes) -> None:
        write_file(self.folder / relative, data)


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    """An SFTP server shared by the session."""
    with SftpServer(tmp_path_factory.mktemp("sftp-root")) as server:
        yield server


@pytest.fixture
def sftp_place(sftp_server: SftpServer) -> SftpPlace:
    """A fresh, empty folder on the session's SFTP server."""
    return SftpPlace(sftp_server)
