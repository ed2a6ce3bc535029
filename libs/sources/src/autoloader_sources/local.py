"""Local (or NFS-mounted) folders, confined to the configured allowed roots."""

from __future__ import annotations

import asyncio
import bisect
import operator
import os
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from autoloader_core.errors import TerminalError
from autoloader_sources.base import (
    LISTING_PAGE,
    ListedFile,
    PathFilter,
    Source,
    SourceNotFound,
    entries_of,
    read_chunks,
)

READ_CHUNK = 1024 * 1024


class PathOutsideRoots(TerminalError):
    """A path resolves (after ``..`` and symlinks) outside every allowed root."""


def confine_path(path: str | Path, roots: Sequence[Path]) -> Path:
    """Resolve ``path`` and check it lies inside one of ``roots``.

    Args:
        path: An absolute path.
        roots: Allowed roots, already resolved.

    Returns:
        The resolved path.

    Raises:
        PathOutsideRoots: ``path`` is relative or escapes the roots (``..``, symlinks).
    """
    if not os.path.isabs(path):
        raise PathOutsideRoots(f"path {str(path)!r} must be absolute")
    resolved = os.path.realpath(path)
    # String prefixes, not Path.is_relative_to: this runs once per file of every batch.
    if any(_is_within(resolved, str(root)) for root in roots):
        return Path(resolved)
    allowed = ", ".join(str(r) for r in roots) or "(none configured)"
    raise PathOutsideRoots(
        f"path {str(path)!r} is outside the allowed local roots ({allowed}); "
        "use a folder inside them or extend AUTOLOADER_LOCAL_ROOTS"
    )


def _is_within(path: str, root: str) -> bool:
    """Whether resolved ``path`` is ``root`` or below it (both absolute and normalised)."""
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


class LocalSource(Source):
    """Files under ``root`` matching the filter; never follows a path out of the allowed roots."""

    def __init__(
        self, root: str, *, pattern: str = "**/*", exclude: str | None = None, allowed_roots: Sequence[Path]
    ) -> None:
        self._roots = tuple(allowed_roots)
        self._root = confine_path(root, self._roots)
        self._filter = PathFilter(pattern, exclude)

    @property
    def root(self) -> Path:
        """The resolved root folder."""
        return self._root

    async def __aenter__(self) -> LocalSource:
        """Nothing to open for local folders."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Nothing to close."""

    def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching files in path order (the walk runs in a thread, a page at a time).

        Raises:
            SourceNotFound: The folder does not exist or is not a folder.
        """
        return entries_of(self.list_pages(start_after=start_after))

    async def list_pages(
        self, *, start_after: str | None = None, size: int = LISTING_PAGE
    ) -> AsyncGenerator[list[ListedFile], None]:
        """Matching files in path order, in pages of ``size``; each page is walked in a thread.

        With ``start_after``, folders and files that sort before it are skipped without being
        listed or stat'ed (a bisection in each sorted folder on the way down to it).

        Raises:
            SourceNotFound: The folder does not exist or is not a folder.
        """
        if not self._root.is_dir():
            raise SourceNotFound(f"folder {str(self._root)!r} does not exist (or is not a folder)")
        pages = self._pages(start_after, max(1, size))
        try:
            while (page := await asyncio.to_thread(next, pages, None)) is not None:
                yield page
        finally:
            pages.close()

    def _pages(self, start_after: str | None, size: int) -> Generator[list[ListedFile], None, None]:
        start = self._root / self._filter.prefix
        if not start.is_dir():
            return
        # The walk never follows a folder symlink, so below a real folder inside the roots only a
        # file symlink can lead out: other entries skip realpath (one lstat per path part, per file).
        real = os.path.realpath(start) == str(start)
        relative = start.relative_to(self._root).as_posix()
        walk = _Walk(self._filter, self._roots, size)
        yield from walk.folder(str(start), "" if relative == "." else relative + "/", start_after, confine=not real)
        if walk.page:
            yield walk.page

    def resolve(self, path: str) -> Path:
        """Return the absolute, confined path of relative ``path``.

        Raises:
            PathOutsideRoots: ``path`` escapes the source root or the allowed roots.
        """
        full = confine_path(os.path.join(self._root, path), self._roots)
        if not _is_within(str(full), str(self._root)):
            raise PathOutsideRoots(f"file {path!r} is outside the source folder")
        return full

    async def stat(self, path: str) -> ListedFile:
        """Return the file's size and mtime.

        Raises:
            SourceNotFound: The file does not exist.
        """
        full = self.resolve(path)
        try:
            info = await asyncio.to_thread(os.stat, full)
        except OSError as exc:
            raise SourceNotFound(f"file {path!r} not found in {str(self._root)!r}") from exc
        return ListedFile(path=path, size=info.st_size, modified_at=datetime.fromtimestamp(info.st_mtime, UTC))

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the file's bytes in ``[start, end)`` in chunks.

        Raises:
            SourceNotFound: The file does not exist.
        """
        full = self.resolve(path)
        try:
            handle = await asyncio.to_thread(full.open, "rb")
        except OSError as exc:
            raise SourceNotFound(f"cannot open {path!r}: {exc.strerror}") from exc
        try:
            handle.seek(start)
            async for chunk in read_chunks(
                lambda size: asyncio.to_thread(handle.read, size), start=start, end=end, chunk_size=READ_CHUNK
            ):
                yield chunk
        finally:
            handle.close()

    def open(self, path: str) -> BinaryIO:
        """Open relative ``path`` for reading (local fast path: no copy needed).

        Raises:
            TerminalError: The file is missing or escapes the roots.
        """
        full = self.resolve(path)
        try:
            return full.open("rb")
        except OSError as exc:
            raise SourceNotFound(f"cannot open {path!r}: {exc.strerror}") from exc


class _Walk:
    """A depth-first walk in lexical path order that fills pages of ``size`` entries (one thread at a time)."""

    def __init__(self, path_filter: PathFilter, roots: Sequence[Path], size: int) -> None:
        self.page: list[ListedFile] = []
        self._size = size
        self._roots = roots
        self._matches = path_filter.matcher()

    def folder(
        self, folder: str, relative: str, start_after: str | None, *, confine: bool
    ) -> Iterator[list[ListedFile]]:
        """Walk ``folder`` (whose paths start with ``relative``), yielding each page once it is full.

        Only paths after ``start_after`` are listed: the folder is skipped when all its paths sort
        at or before it, and otherwise a bisection of its sorted entries finds where to begin.
        """
        if start_after is not None and not start_after.startswith(relative):
            if start_after > relative:
                return  # every path here starts with ``relative``: all sort before start_after
            start_after = None  # every path here sorts after it
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            return
        # Folders sort as "name/" so full paths come out in lexical order (start_after relies on it).
        folders = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        entries.sort(key=(lambda e: e.name + "/" if e.name in folders else e.name) if folders else _NAME)
        begin = 0
        if start_after is not None:
            keys = [e.name + "/" if e.name in folders else e.name for e in entries]
            begin, start_after = _begin(keys, relative, start_after)
        page, size, matches, roots = self.page, self._size, self._matches, self._roots
        for index in range(begin, len(entries)):
            entry = entries[index]
            path = relative + entry.name
            if folders and entry.name in folders:
                self.page = page
                inside = start_after if index == begin else None
                yield from self.folder(entry.path, path + "/", inside, confine=confine)
                page = self.page
                continue
            if not matches(path) or not entry.is_file():
                continue
            try:
                if confine or entry.is_symlink():
                    confine_path(entry.path, roots)  # a symlink may point out of the roots
                info = entry.stat()
            except (PathOutsideRoots, OSError):
                continue
            page.append(ListedFile(path=path, size=info.st_size, modified_at=_from_timestamp(info.st_mtime, UTC)))
            if len(page) >= size:
                self.page = []
                yield page
                page = self.page
        self.page = page


def _begin(keys: list[str], relative: str, start_after: str) -> tuple[int, str | None]:
    """Where a folder's sorted entries (by ``keys``) start after ``start_after``, and what that entry still skips.

    Returns:
        (index, None): every entry from ``index`` on sorts after ``start_after``; or (index,
        start_after): entry ``index`` is the one folder ``start_after`` lies in, walked from it on.
    """
    rest = start_after[len(relative) :]
    begin = bisect.bisect_right(keys, rest)
    # Every entry before ``begin`` sorts at or before start_after, except the folder it lies in
    # (key "name/", rest "name/..."), which bisect_right put just before ``begin``.
    if begin and keys[begin - 1].endswith("/") and rest.startswith(keys[begin - 1]):
        return begin - 1, start_after
    return begin, None


_NAME = operator.attrgetter("name")
_from_timestamp = datetime.fromtimestamp
