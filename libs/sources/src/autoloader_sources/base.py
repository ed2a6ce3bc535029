"""The source connector port: list files under a path, stat and read them.

Every connector (local, S3, Azure Blob, GCS, FTP, SFTP) implements :class:`Source` and passes one
behaviour suite (``tests/integration/test_source_behaviour.py``) against a real server.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import lru_cache
from typing import Protocol

import msgspec

from autoloader_core.errors import TerminalError, TransientError


class ListedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file found by a listing.

    Attributes:
        path: Path relative to the source's root path, with ``/`` separators.
        size: Size in bytes.
        modified_at: Last modification time (UTC).
        etag: Content identity where the store has one: S3/Azure ETag (unquoted), GCS
            generation (or md5); None for local/FTP/SFTP, whose identity is size + mtime.
    """

    path: str
    size: int
    modified_at: datetime
    etag: str | None = None


class ConnectionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a connection test found.

    Attributes:
        reachable: The server answered.
        authorised: The credentials were accepted and the path could be listed.
        file_count: Matching files found (up to the cap).
        total_bytes: Their total size.
        capped: True when the listing stopped at the cap (there may be more).
        sample: The first few matching files.
        message: A sentence for the user: what was found, or what is wrong and what to do.
    """

    reachable: bool
    authorised: bool
    file_count: int = 0
    total_bytes: int = 0
    capped: bool = False
    sample: list[ListedFile] = []
    message: str = ""


class SourceNotFound(TerminalError):
    """The bucket, container, host folder or path does not exist."""


class SourceAuthError(TerminalError):
    """The credentials were refused or lack permission for the path."""


class SourceUnavailable(TransientError):
    """The store could not be reached or answered with a retryable error (network, 5xx, throttling)."""


class Source(Protocol):
    """A place files are read from (one connector instance per source configuration).

    Implementations translate every driver error into :class:`SourceNotFound`,
    :class:`SourceAuthError` (both terminal), :class:`SourceUnavailable` (transient) or another
    :class:`TerminalError` with a message that names the cause. They must be used as async
    context managers (``async with``) so connections are closed.
    """

    async def __aenter__(self) -> Source:
        """Open connections lazily; return self."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Close every connection."""
        ...

    def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream the files under the root matching the include pattern and not the exclude one.

        Pages are consumed as they arrive (memory stays constant in the number of objects), and the
        pattern's fixed leading folders prune the listing (prefix). Object stores yield paths in
        lexical order; ``start_after`` (a relative path) skips everything up to and including it.

        Raises:
            SourceNotFound, SourceAuthError, SourceUnavailable.
        """
        ...

    async def stat(self, path: str) -> ListedFile:
        """Return the current size, mtime and etag of relative ``path``.

        Raises:
            SourceNotFound: The file does not exist.
        """
        ...

    def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the bytes of relative ``path`` from ``start`` up to ``end`` (exclusive) in chunks.

        Raises:
            SourceNotFound: The file does not exist.
        """
        ...


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with ``**`` (any depth) and ``*`` (one level) into a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[":
                end = pattern.find("]", i)
                if end == -1:
                    out.append(re.escape(char))
                else:
                    out.append(fnmatch.translate(pattern[i : end + 1])[4:-3])
                    i = end
            else:
                out.append(re.escape(char))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def glob_matches(pattern: str, path: str) -> bool:
    """Tell whether relative ``path`` matches glob ``pattern`` (``**`` spans folders, ``*`` does not)."""
    return bool(_glob_regex(pattern).match(path))


def static_prefix(pattern: str) -> str:
    """Return the folder part of ``pattern`` before its first wildcard (for prefix pruning)."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head.rsplit("/", 1)[0] + "/" if "/" in head else ""


class PathFilter:
    """Include/exclude globs relative to the source root, with the prefix a listing can start from."""

    def __init__(self, pattern: str = "**/*", exclude: str | None = None) -> None:
        self.pattern = pattern
        self.exclude = exclude
        self.prefix = static_prefix(pattern)

    def matches(self, path: str) -> bool:
        """Tell whether relative ``path`` is included and not excluded."""
        if not glob_matches(self.pattern, path):
            return False
        return not (self.exclude and glob_matches(self.exclude, path))


async def read_chunks(
    read: Callable[[int], Awaitable[bytes]], *, start: int, end: int | None, chunk_size: int
) -> AsyncIterator[bytes]:
    """Yield what ``read(n)`` returns, positioned at ``start``, until ``end`` (exclusive) or end of file.

    ``read`` is the connector's own "read up to n bytes" of an already positioned stream; this
    keeps the byte budget of a ranged read in one place.
    """
    remaining = None if end is None else max(0, end - start)
    while remaining is None or remaining > 0:
        chunk = await read(chunk_size if remaining is None else min(chunk_size, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def page_size(options: dict[str, object], default: int = 1000) -> int:
    """The listing page size from connector options (tests force small pages)."""
    value = options.get("page_size", default)
    return int(value) if isinstance(value, int | str) else default


async def check_connection(source: Source, *, cap: int = 10_000, sample: int = 10) -> ConnectionReport:
    """List up to ``cap`` matching files and report; every failure becomes a report, never an error."""
    count = total = 0
    first: list[ListedFile] = []
    try:
        async with source:
            async for listed in source.list_files():
                count += 1
                total += listed.size
                if len(first) < sample:
                    first.append(listed)
                if count >= cap:
                    break
    except SourceAuthError as exc:
        return ConnectionReport(reachable=True, authorised=False, message=exc.message)
    except SourceNotFound as exc:
        return ConnectionReport(reachable=True, authorised=True, message=exc.message)
    except (SourceUnavailable, TransientError) as exc:
        return ConnectionReport(reachable=False, authorised=False, message=exc.message)
    except TerminalError as exc:
        return ConnectionReport(reachable=False, authorised=False, message=exc.message)
    capped = count >= cap
    more = " or more" if capped else ""
    return ConnectionReport(
        reachable=True,
        authorised=True,
        file_count=count,
        total_bytes=total,
        capped=capped,
        sample=first,
        message=f"connected: {count}{more} matching files, {total} bytes",
    )
