"""SFTP folders, via asyncssh, with a pinned host key.

Path: ``sftp://host[:port]/folder/`` (the folder as the server shows it; relative to a chroot when
the server has one). Credentials: ``username`` plus ``password`` or ``private_key`` (PEM/OpenSSH
text, optional ``passphrase``). Options: ``host_key`` (required: the server's public host key,
``ssh-ed25519 AAAA...``; the connection is refused when the server shows another key), ``timeout``
(seconds, default 30). ``page_size`` is ignored: folders are read whole, one at a time.

SFTP v3 servers report whole-second mtimes; a file's identity is size + mtime. Symbolic links are
not followed (a link could lead out of the configured folder).
"""

from __future__ import annotations

import contextlib
import stat as stat_mode
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import asyncssh

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.base import (
    ListedFile,
    PathFilter,
    Source,
    SourceAuthError,
    SourceNotFound,
    SourceUnavailable,
    read_chunks,
)
from autoloader_sources.remote import RemoteEntry, RemoteLocation, check_relative, parse_location, walk

DEFAULT_PORT = 22
DEFAULT_TIMEOUT = 30.0
READ_CHUNK = 1024 * 1024
_MISSING = (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath, asyncssh.SFTPNotADirectory)


def create(spec: SourceSpec, credentials: Mapping[str, str] | None, allowed_roots: Sequence[Path]) -> SftpSource:
    """Build an SFTP connector from its spec (``allowed_roots`` only concern local folders).

    Raises:
        TerminalError: The path is not an ``sftp://`` URL, ``options.host_key`` is missing or
            invalid, or the credentials lack a username or a password/private key.
    """
    del allowed_roots
    options = spec.options
    return SftpSource(
        parse_location(spec.path, scheme="sftp", default_port=DEFAULT_PORT),
        host_key=_host_key(options.get("host_key")),
        login=_login(credentials),
        path_filter=PathFilter(spec.file_pattern, spec.exclude_pattern),
        timeout=float(options.get("timeout", DEFAULT_TIMEOUT)),
    )


def _host_key(value: object) -> asyncssh.SSHKey:
    if not isinstance(value, str) or not value.strip():
        raise TerminalError(
            "options.host_key is required for SFTP: set it to the server's public host key "
            "('ssh-ed25519 AAAA...', e.g. from `ssh-keyscan -p PORT HOST`); trusting any host key "
            "would let a man-in-the-middle read the files and the credentials"
        )
    try:
        return asyncssh.import_public_key(_key_text(value))
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise TerminalError("options.host_key is not an SSH public key; expected 'ssh-ed25519 AAAA...'") from exc


def _key_text(value: str) -> str:
    """Accept a known_hosts line too (``host ssh-ed25519 AAAA...``): keep from the key type on."""
    words = value.split()
    for index, word in enumerate(words):
        if word.startswith(("ssh-", "ecdsa-", "sk-")):
            return " ".join(words[index:])
    return value


def _login(credentials: Mapping[str, str] | None) -> dict[str, object]:
    """asyncssh login arguments; never the user's agent, default keys or ssh config."""
    if not credentials or not credentials.get("username"):
        raise TerminalError("SFTP needs credentials: a username and a password or private_key")
    login: dict[str, object] = {"username": credentials["username"], "client_keys": None, "password": None}
    if credentials.get("private_key"):
        try:
            key = asyncssh.import_private_key(credentials["private_key"], credentials.get("passphrase") or None)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise TerminalError(
                "credentials.private_key could not be read: give the PEM or OpenSSH private key "
                "text (and credentials.passphrase when it is encrypted)"
            ) from exc
        login["client_keys"] = [key]
    elif credentials.get("password"):
        login["password"] = credentials["password"]
    else:
        raise TerminalError("SFTP credentials need a password or a private_key besides the username")
    return login


class SftpSource(Source):
    """Files under one folder of an SFTP server."""

    def __init__(
        self,
        location: RemoteLocation,
        *,
        host_key: asyncssh.SSHKey,
        login: Mapping[str, object],
        path_filter: PathFilter,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._location = location
        self._host_key = host_key
        self._login = dict(login)
        self._filter = path_filter
        self._timeout = timeout
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._server = f"SFTP server {location.host}:{location.port}"

    async def __aenter__(self) -> SftpSource:
        """Connect (checking the pinned host key), log in and start the SFTP session.

        Raises:
            SourceAuthError: The login was refused or the host key does not match.
            SourceUnavailable: The server could not be reached.
        """
        with self._translated("connecting"):
            connection = await asyncssh.connect(
                self._location.host,
                self._location.port,
                known_hosts=([self._host_key], [], []),
                agent_path=None,
                config=None,
                connect_timeout=self._timeout,
                login_timeout=self._timeout,
                **self._login,
            )
        try:
            with self._translated("starting SFTP"):
                self._sftp = await connection.start_sftp_client()
        except BaseException:
            connection.close()
            await connection.wait_closed()
            raise
        self._connection = connection
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the SFTP session and the SSH connection."""
        sftp, self._sftp = self._sftp, None
        connection, self._connection = self._connection, None
        if sftp is not None:
            sftp.exit()
            with contextlib.suppress(asyncssh.Error, OSError):
                await sftp.wait_closed()
        if connection is not None:
            connection.close()
            await connection.wait_closed()

    async def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching files in lexical path order (one readdir per folder).

        Raises:
            SourceNotFound: The configured folder does not exist.
        """
        async for listed in walk(
            self._list_dir, self._location, self._filter, start_after=start_after, server=self._server
        ):
            yield listed

    async def stat(self, path: str) -> ListedFile:
        """Return the size and mtime of relative ``path``.

        Raises:
            SourceNotFound: The file does not exist (or is not a regular file).
        """
        remote = self._location.join(check_relative(path))
        missing = f"file {path!r} not found in {self._location.root!r} on {self._server}"
        with self._translated(f"reading the details of {path!r}", missing=missing):
            attrs = await self._client().stat(remote, follow_symlinks=False)
        entry = _entry(path, attrs)
        if entry is None or entry.is_dir:
            raise SourceNotFound(missing)
        return ListedFile(path=path, size=entry.size, modified_at=entry.modified_at)

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the bytes of relative ``path`` in ``[start, end)``.

        Raises:
            SourceNotFound: The file does not exist.
        """
        remote = self._location.join(check_relative(path))
        missing = f"file {path!r} not found in {self._location.root!r} on {self._server}"
        with self._translated(f"opening {path!r}", missing=missing):
            handle = await self._client().open(remote, "rb")
        try:
            with self._translated(f"reading {path!r}"):
                await handle.seek(start)

            async def read(size: int) -> bytes:
                with self._translated(f"reading {path!r}"):
                    # Opened in binary mode ("rb", no encoding): reads return bytes.
                    return cast(bytes, await handle.read(size))

            async for chunk in read_chunks(read, start=start, end=end, chunk_size=READ_CHUNK):
                yield chunk
        finally:
            with contextlib.suppress(asyncssh.Error, OSError):
                await handle.close()

    def _client(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            raise TerminalError("the SFTP source is not open; use it with 'async with'")
        return self._sftp

    async def _list_dir(self, folder: str) -> list[RemoteEntry] | None:
        """Files and folders directly in absolute ``folder``; None when it does not exist."""
        with self._translated(f"listing {folder!r}"):
            try:
                names = [name async for name in self._client().scandir(folder)]
            except _MISSING:
                return None
        entries = (_entry(str(name.filename), name.attrs) for name in names if name.filename not in (".", ".."))
        return [entry for entry in entries if entry is not None]

    @contextlib.contextmanager
    def _translated(self, doing: str, *, missing: str | None = None) -> Iterator[None]:
        """Translate asyncssh/socket errors raised while ``doing`` into our error types."""
        try:
            yield
        except asyncssh.HostKeyNotVerifiable as exc:
            raise SourceAuthError(
                f"{self._server} showed a host key that does not match options.host_key; if the server's key "
                "was changed on purpose, update options.host_key, otherwise the connection may be intercepted"
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise SourceAuthError(
                f"{self._server} refused the login; check the username and the password or "
                "private key in the source credentials"
            ) from exc
        except _MISSING as exc:
            raise (SourceNotFound(missing) if missing else TerminalError(f"{self._server}: {exc.reason}")) from exc
        except asyncssh.SFTPPermissionDenied as exc:
            raise SourceAuthError(
                f"{self._server} denied access while {doing}: the user may lack permission for the folder"
            ) from exc
        except (asyncssh.ConnectionLost, asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
            raise SourceUnavailable(f"{self._server} closed the connection while {doing}; retry later") from exc
        except (asyncssh.DisconnectError, asyncssh.SFTPError, asyncssh.ChannelOpenError) as exc:
            raise TerminalError(f"{self._server} failed while {doing}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise SourceUnavailable(
                f"{self._server} did not answer within {self._timeout:g} s while {doing}; "
                "check the host and port (is it an SSH server?) or raise options.timeout"
            ) from exc
        except OSError as exc:
            reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            raise SourceUnavailable(
                f"{self._server} could not be reached while {doing} ({reason}); "
                "check the host and port and that the server is up"
            ) from exc


def _entry(name: str, attrs: asyncssh.SFTPAttrs) -> RemoteEntry | None:
    """A regular file or folder from SFTP attributes; None for links and special files."""
    mode = attrs.permissions or 0
    if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY or stat_mode.S_ISDIR(mode):
        is_dir = True
    elif attrs.type == asyncssh.FILEXFER_TYPE_REGULAR or stat_mode.S_ISREG(mode):
        is_dir = False
    else:
        return None
    seconds = attrs.mtime or 0
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=(attrs.mtime_ns or 0) // 1000)
    return RemoteEntry(name=name, is_dir=is_dir, size=attrs.size or 0, modified_at=moment)
