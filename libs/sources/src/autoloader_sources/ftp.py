"""FTP and FTPS (explicit TLS) folders, via aioftp.

Path: ``ftp://host[:port]/folder/``. Credentials: ``username`` and ``password`` (none: anonymous).
Options: ``tls`` (explicit FTPS, ``AUTH TLS``; data connections are encrypted too), ``ca_cert``
(PEM text of the CA that signed the server's certificate, for private CAs), ``passive`` (must stay
true: only passive mode is supported), ``timeout`` (seconds, default 30). ``page_size`` is ignored:
FTP has no paging; folders are listed one at a time with MLSD (exact mtimes; LIST has day precision).

One control connection per source instance, opened in ``__aenter__``; operations on it run one at a
time (a lock), and a listing releases it between items so a caller may ``stat``/``read`` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import aioftp

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

DEFAULT_PORT = 21
DEFAULT_TIMEOUT = 30.0
ANONYMOUS = ("anonymous", "anon@")
_QUIT_TIMEOUT = 5.0
READ_CHUNK = 1024 * 1024
_CONNECTING = "connecting"


def create(spec: SourceSpec, credentials: Mapping[str, str] | None, allowed_roots: Sequence[Path]) -> FtpSource:
    """Build an FTP connector from its spec (``allowed_roots`` only concern local folders).

    Raises:
        TerminalError: The path is not an ``ftp://`` URL, or active mode was asked for.
    """
    del allowed_roots
    options = spec.options
    if options.get("passive", True) in (False, "false", "0"):
        raise TerminalError("FTP active mode is not supported; remove options.passive or set it to true")
    username, password = ANONYMOUS
    if credentials and credentials.get("username"):
        username, password = credentials["username"], credentials.get("password", "")
    return FtpSource(
        parse_location(spec.path, scheme="ftp", default_port=DEFAULT_PORT),
        username=username,
        password=password,
        path_filter=PathFilter(spec.file_pattern, spec.exclude_pattern),
        tls=_tls_context(options),
        timeout=float(options.get("timeout", DEFAULT_TIMEOUT)),
    )


def _tls_context(options: Mapping[str, object]) -> ssl.SSLContext | None:
    if options.get("tls") not in (True, "true", "1"):
        return None
    ca_cert = options.get("ca_cert")
    try:
        return ssl.create_default_context(cadata=ca_cert if isinstance(ca_cert, str) and ca_cert else None)
    except ssl.SSLError as exc:
        raise TerminalError("options.ca_cert is not a valid PEM certificate") from exc


class FtpSource(Source):
    """Files under one folder of an FTP(S) server."""

    def __init__(
        self,
        location: RemoteLocation,
        *,
        username: str,
        password: str,
        path_filter: PathFilter,
        tls: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._location = location
        self._username = username
        self._password = password
        self._filter = path_filter
        self._tls = tls
        self._timeout = timeout
        self._client: aioftp.Client | None = None
        self._lock = asyncio.Lock()
        self._server = f"FTP server {location.host}:{location.port}"

    async def __aenter__(self) -> FtpSource:
        """Connect, upgrade to TLS when asked, and log in.

        Raises:
            SourceAuthError: The login was refused.
            SourceUnavailable: The server could not be reached.
        """
        client = aioftp.Client(connection_timeout=self._timeout, socket_timeout=self._timeout, encoding="utf-8")
        try:
            with self._translated(_CONNECTING):
                await client.connect(self._location.host, self._location.port)
                if self._tls is not None:
                    await client.upgrade_to_tls(self._tls)
                await client.login(self._username, self._password)
        except BaseException:
            client.close()
            raise
        self._client = client
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Say QUIT (best effort) and close the control connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(client.quit(), _QUIT_TIMEOUT)
        except (aioftp.AIOFTPException, OSError, TimeoutError):
            pass  # the connection is going away anyway; closing below is what matters
        finally:
            client.close()

    async def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching files in lexical path order (one MLSD per folder).

        Raises:
            SourceNotFound: The configured folder does not exist.
            SourceAuthError, SourceUnavailable: See :meth:`__aenter__`.
        """
        async for listed in walk(
            self._list_dir, self._location, self._filter, start_after=start_after, server=self._server
        ):
            yield listed

    async def stat(self, path: str) -> ListedFile:
        """Return the size and mtime of relative ``path`` (MLST, else the parent's MLSD).

        Raises:
            SourceNotFound: The file does not exist (or is a folder).
        """
        remote = self._location.join(check_relative(path))
        missing = f"file {path!r} not found in {self._location.root!r} on {self._server}"
        async with self._lock:
            with self._translated(f"reading the details of {path!r}", missing=missing):
                facts = await self._mlst(remote)
        if facts is None:
            entries = await self._list_dir(str(PurePosixPath(remote).parent)) or []
            entry = next((e for e in entries if e.name == PurePosixPath(remote).name), None)
        else:
            entry = _entry(PurePosixPath(remote).name, facts)
        if entry is None or entry.is_dir:
            raise SourceNotFound(missing)
        return ListedFile(path=path, size=entry.size, modified_at=entry.modified_at)

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the bytes of relative ``path`` in ``[start, end)`` (REST for the start offset).

        Raises:
            SourceNotFound: The file does not exist.
        """
        remote = self._location.join(check_relative(path))
        missing = f"file {path!r} not found in {self._location.root!r} on {self._server}"
        remaining = None if end is None else max(0, end - start)
        if remaining == 0:
            return
        async with self._lock:
            with self._translated(f"opening {path!r}", missing=missing):
                stream = await self._data_stream("RETR " + remote, offset=start)
            complete = False

            async def read(size: int) -> bytes:
                nonlocal complete
                with self._translated(f"reading {path!r}"):
                    chunk: bytes = await stream.read(size)
                complete = not chunk  # the server sent everything
                return chunk

            try:
                async for chunk in read_chunks(read, start=start, end=end, chunk_size=READ_CHUNK):
                    yield chunk
            finally:
                await self._end_transfer(stream, complete=complete)

    async def _end_transfer(self, stream: aioftp.DataConnectionThrottleStreamIO, *, complete: bool) -> None:
        """Close the data connection and consume the transfer's final reply.

        Stopping early (``end`` reached, consumer gone) closes the data connection mid-transfer;
        the server then answers 426 (or 226 when it had already sent everything).
        """
        stream.close()
        with self._translated("finishing a transfer"):
            expected = "2xx" if complete else ("2xx", "4xx")
            await self._connected().command(None, expected, "1xx")

    def _connected(self) -> aioftp.Client:
        if self._client is None:
            raise TerminalError("the FTP source is not open; use it with 'async with'")
        return self._client

    async def _data_stream(self, command: str, *, offset: int = 0) -> aioftp.DataConnectionThrottleStreamIO:
        """Open a passive data connection and start ``command`` on it.

        Unlike ``aioftp.Client.get_stream``, closes the data connection when the command is refused
        (a 550 for a missing file would otherwise leak the socket).
        """
        client = self._connected()
        reader, writer = await client.get_passive_connection("I")
        try:
            if offset:
                await client.command(f"REST {offset}", "350")
            await client.command(command, "1xx")
        except BaseException:
            writer.close()
            raise
        return aioftp.DataConnectionThrottleStreamIO(
            client, reader, writer, throttles={"_": client.throttle}, timeout=client.socket_timeout
        )

    async def _mlst(self, remote: str) -> dict[str, str] | None:
        """MLST facts of ``remote``; None when the server lacks MLST."""
        client = self._connected()
        try:
            _, info = await client.command("MLST " + remote, "2xx")
        except aioftp.StatusCodeError as exc:
            if _code(exc) in ("500", "502"):
                return None
            raise
        return _parse_mlsx(info[1].lstrip())[1]

    async def _list_dir(self, folder: str) -> list[RemoteEntry] | None:
        """The files and folders directly in absolute ``folder``; None when it does not exist (or is a file)."""
        async with self._lock:
            with self._translated(f"listing {folder!r}"):
                try:
                    stream = await self._data_stream("MLSD " + folder)
                except aioftp.StatusCodeError as exc:
                    if _code(exc) in ("550", "501"):  # pyftpdlib: "501 No such directory"
                        return None
                    if _code(exc) in ("500", "502"):
                        raise TerminalError(
                            f"{self._server} does not support MLSD (RFC 3659), which is needed "
                            "for exact modification times; use a server that does"
                        ) from exc
                    raise
                try:
                    lines = [line async for line in stream.iter_by_line()]
                finally:
                    stream.close()
                await self._connected().command(None, "2xx", "1xx")
        entries = (_entry(*_parse_mlsx(line.decode("utf-8", errors="replace"))) for line in lines)
        return [entry for entry in entries if entry is not None]

    @contextlib.contextmanager
    def _translated(self, doing: str, *, missing: str | None = None) -> Iterator[None]:
        """Translate aioftp/socket errors raised while ``doing`` into our error types."""
        try:
            yield
        except aioftp.StatusCodeError as exc:
            raise self._status_error(exc, doing, missing) from exc
        except ssl.SSLError as exc:  # before OSError: certificate problems are not transient
            raise TerminalError(
                f"TLS with {self._server} failed while {doing} ({exc.reason}); check that it "
                "supports explicit FTPS and that options.ca_cert trusts its certificate"
            ) from exc
        except aioftp.errors.InvalidCommand as exc:
            raise TerminalError(f"a path sent to {self._server} contains a line break") from exc
        except TimeoutError as exc:
            raise SourceUnavailable(
                f"{self._server} did not answer within {self._timeout:g} s while {doing}; "
                "check the host and port (is it an FTP server?) or raise options.timeout"
            ) from exc
        except (OSError, EOFError) as exc:
            reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            raise SourceUnavailable(
                f"{self._server} could not be reached while {doing} ({reason}); "
                "check the host and port and that the server is up"
            ) from exc

    def _status_error(self, exc: aioftp.StatusCodeError, doing: str, missing: str | None) -> Exception:
        code = _code(exc)
        reply = " ".join(line.strip() for line in exc.info) if isinstance(exc.info, list) else str(exc.info)
        answer = f"{self._server} answered {code} {reply[:200]!r} while {doing}"
        if code == "530":
            # The user name is left out too: credentials never appear in messages.
            return SourceAuthError(
                f"{self._server} refused the login; check the username and password in the source credentials"
            )
        if doing == _CONNECTING:
            return TerminalError(
                f"{answer}; check options.tls (the server may require FTPS) and the server's configuration"
            )
        if code == "550" and missing is not None:
            return SourceNotFound(missing)
        if code in ("550", "553"):
            return SourceAuthError(f"{answer}: the user may lack permission for the folder")
        if code.startswith("4"):
            return SourceUnavailable(f"{answer}; it may be busy, retry later")
        return TerminalError(f"{answer}; check the source path and the server's configuration")


def _code(exc: aioftp.StatusCodeError) -> str:
    return str(exc.received_codes[-1]) if exc.received_codes else ""


def _parse_mlsx(line: str) -> tuple[str, dict[str, str]]:
    """Split an MLSx line (``type=file;size=5;modify=20240101120000; name``) into name and facts."""
    facts, _, path = line.rstrip("\r\n").partition(" ")  # only the line end: names may end in spaces
    pairs = (fact.partition("=") for fact in facts.split(";") if fact)
    return PurePosixPath(path).name or path, {key.lower(): value for key, _, value in pairs}


def _entry(name: str, facts: Mapping[str, str]) -> RemoteEntry | None:
    """A file or folder from MLSx facts; None for ``.``, ``..``, links and specials."""
    kind = facts.get("type", "").lower()
    if kind not in ("file", "dir") or name in (".", ".."):
        return None
    return RemoteEntry(
        name=name,
        is_dir=kind == "dir",
        size=int(facts.get("size", "0") or 0),
        modified_at=_mlsx_time(facts.get("modify", "")),
    )


def _mlsx_time(value: str) -> datetime:
    """Parse an MLSx ``modify`` fact (``YYYYMMDDHHMMSS[.fff]``, UTC)."""
    whole, _, fraction = value.partition(".")
    try:
        moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)  # a server without the modify fact: size alone identifies
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction.ljust(6, "0")[:6]))
    return moment
