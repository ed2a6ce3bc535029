"""The source connector port: list files under a path, stat and read them.

Every connector (local, S3, Azure Blob, GCS, FTP, SFTP) implements :class:`Source` and passes one
behaviour suite (``tests/integration/test_source_behaviour.py``) against a real server.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
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


LISTING_PAGE = 1000
"""Entries per page of :meth:`Source.list_pages` unless a connector's own pages differ (an API page)."""


class Source(Protocol):
    """A place files are read from (one connector instance per source configuration).

    Implementations translate every driver error into :class:`SourceNotFound`,
    :class:`SourceAuthError` (both terminal), :class:`SourceUnavailable` (transient) or another
    :class:`TerminalError` with a message that names the cause. They must be used as async
    context managers (``async with``) so connections are closed. Connectors subclass this class
    explicitly to inherit the default :meth:`list_pages`.
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

    def list_pages(
        self, *, start_after: str | None = None, size: int = LISTING_PAGE
    ) -> AsyncGenerator[list[ListedFile], None]:
        """The same listing as :meth:`list_files`, as pages: lists of entries in listing order, none empty.

        Callers that diff a listing against a ledger work a page at a time (one query per page, no
        per-entry async step). ``size`` bounds a page; a connector whose store answers in pages of
        its own (S3's ListObjectsV2) may yield those instead. This default groups :meth:`list_files`.

        Raises:
            SourceNotFound, SourceAuthError, SourceUnavailable.
        """
        return pages_of(self.list_files(start_after=start_after), size)

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


# Globs are matched by a lazily built DFA, not by a backtracking regex: a regex of several
# unbounded wildcards (``**a**a**a**b``) takes minutes on one long path, and patterns come
# from users. The DFA reads each path once, so matching is linear in the path's length.
_LITERAL, _ONE, _CLASS, _STAR, _ANY_DEPTH, _FOLDERS = range(6)
_DFA_CACHE_MAX = 20_000
"""Cached DFA transitions per pattern; past it, states are still computed, just not kept."""


class _Glob:
    """One glob compiled to tokens: ``**/`` (any folders), ``**`` (anything), ``*``, ``?``, ``[...]``."""

    def __init__(self, pattern: str) -> None:
        self.tokens = _tokens(pattern)
        self._start = self._closure({0})
        self._moves: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        self._regex = _linear_regex(self.tokens)

    def matcher(self) -> Callable[[str], bool]:
        """:meth:`matches`, as the regex's own ``fullmatch`` when there is one (no Python frame per path)."""
        if self._regex is not None:
            return self._regex.fullmatch  # type: ignore[return-value]  # a Match or None: truthy or not
        return self.matches

    def matches(self, path: str) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(path) is not None
        state = self._start
        for char in path:
            state = self._move(state, char)
            if not state:
                return False
        return len(self.tokens) in state

    def _move(self, state: frozenset[int], char: str) -> frozenset[int]:
        key = (state, char)
        found = self._moves.get(key)
        if found is None:
            found = self._closure(self._step(state, char))
            if len(self._moves) < _DFA_CACHE_MAX:
                self._moves[key] = found
        return found

    def _step(self, state: frozenset[int], char: str) -> set[int]:
        # States 0..n are "before token i" (n: matched); n + 1 + i is "inside the folders of ``**/`` i",
        # which, unlike "before it", cannot skip ahead: it must still read a "/".
        end = len(self.tokens)
        after: set[int] = set()
        for index in state:
            if index > end:
                after.update((index, index - end) if char == "/" else (index,))
            elif index < end:
                kind, value = self.tokens[index]
                after.update(_READS[kind](value, char, index, end))
        return after

    def _closure(self, indexes: set[int]) -> frozenset[int]:
        closed = set(indexes)
        pending = list(indexes)
        while pending:
            index = pending.pop()
            skippable = index < len(self.tokens) and self.tokens[index][0] in (_STAR, _ANY_DEPTH, _FOLDERS)
            if skippable and index + 1 not in closed:
                closed.add(index + 1)
                pending.append(index + 1)
        return frozenset(closed)


def _read_class(value: str | re.Pattern[str], char: str, index: int, end: int) -> tuple[int, ...]:
    return (index + 1,) if isinstance(value, re.Pattern) and value.fullmatch(char) else ()


def _read_folders(value: str | re.Pattern[str], char: str, index: int, end: int) -> tuple[int, ...]:
    # A "/" ends the folders of ``**/`` (or is one of them); any other character starts them.
    return (index + 1, end + 1 + index) if char == "/" else (end + 1 + index,)


_Read = Callable[[str | re.Pattern[str], str, int, int], tuple[int, ...]]
_READS: dict[int, _Read] = {
    _LITERAL: lambda value, char, index, end: (index + 1,) if char == value else (),
    _ONE: lambda value, char, index, end: (index + 1,) if char != "/" else (),
    _CLASS: _read_class,
    _STAR: lambda value, char, index, end: (index,) if char != "/" else (),
    _ANY_DEPTH: lambda value, char, index, end: (index,),
    _FOLDERS: _read_folders,
}
"""What reading one character does from "before token i", per token kind: the states it leads to."""


def _linear_regex(tokens: list[tuple[int, str | re.Pattern[str]]]) -> re.Pattern[str] | None:
    """The glob as a regex when that cannot backtrack badly, else None (the DFA matches it).

    Listing calls this once per file (a regex is ~10x faster than the DFA's per-character steps).
    Safe shapes: at most one unbounded wildcard (``*`` or ``**``), after an optional leading ``**/``
    whose rest holds no ``/`` and no class (then only the path's ``/`` positions are tried).
    """
    rest = tokens[1:] if tokens and tokens[0][0] == _FOLDERS else tokens
    if sum(kind in (_STAR, _ANY_DEPTH, _FOLDERS) for kind, _ in rest) > 1:
        return None
    if rest is not tokens and any(kind not in (_LITERAL, _ONE, _STAR) or value == "/" for kind, value in rest):
        return None
    parts = {_ONE: "[^/]", _STAR: "[^/]*", _ANY_DEPTH: ".*", _FOLDERS: "(?:.*/)?"}
    regex = "".join(
        value.pattern if isinstance(value, re.Pattern) else re.escape(value) if kind == _LITERAL else parts[kind]
        for kind, value in tokens
    )
    return re.compile(regex, re.DOTALL)


def _tokens(pattern: str) -> list[tuple[int, str | re.Pattern[str]]]:
    tokens: list[tuple[int, str | re.Pattern[str]]] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            tokens.append((_FOLDERS, ""))
            i += 3
            continue
        if pattern.startswith("**", i):
            tokens.append((_ANY_DEPTH, ""))
            i += 2
            continue
        char = pattern[i]
        end = pattern.find("]", i) if char == "[" else -1
        if char == "*":
            tokens.append((_STAR, ""))
        elif char == "?":
            tokens.append((_ONE, ""))
        elif end != -1:
            tokens.append((_CLASS, re.compile(fnmatch.translate(pattern[i : end + 1])[4:-3])))
            i = end
        else:
            tokens.append((_LITERAL, char))
        i += 1
    return tokens


@lru_cache(maxsize=256)
def _glob(pattern: str) -> _Glob:
    return _Glob(pattern)


def glob_matches(pattern: str, path: str) -> bool:
    """Tell whether relative ``path`` matches glob ``pattern`` (``**`` spans folders, ``*`` does not).

    Linear in the length of ``path`` whatever the pattern (no backtracking).
    """
    return _glob(pattern).matches(path)


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

    def matcher(self) -> Callable[[str], bool]:
        """:meth:`matches` as one callable, with the compiled globs bound (listings call it per file)."""
        include, exclude = _glob(self.pattern).matcher(), _glob(self.exclude).matcher() if self.exclude else None
        if exclude is None:
            return include
        return lambda path: include(path) and not exclude(path)


async def entries_of(pages: AsyncGenerator[list[ListedFile], None]) -> AsyncGenerator[ListedFile, None]:
    """Flatten a paged listing into a stream of entries (:meth:`Source.list_files` of paging connectors)."""
    try:
        async for page in pages:
            for listed in page:
                yield listed
    finally:
        await pages.aclose()


async def pages_of(
    files: AsyncIterator[ListedFile], size: int = LISTING_PAGE
) -> AsyncGenerator[list[ListedFile], None]:
    """Group a stream of entries into pages of at most ``size`` (the default :meth:`Source.list_pages`)."""
    page: list[ListedFile] = []
    try:
        async for listed in files:
            page.append(listed)
            if len(page) >= size:
                yield page
                page = []
        if page:
            yield page
    finally:
        close = getattr(files, "aclose", None)
        if close is not None:
            await close()  # a caller that stops early closes the connector's listing too


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
