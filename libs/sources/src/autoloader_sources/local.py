"""Local (or NFS-mounted) folders, confined to the configured allowed roots."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from autoloader_core.errors import TerminalError
from autoloader_sources.base import ListedFile, PathFilter, SourceNotFound, read_chunks

LIST_CHUNK = 500
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


class LocalSource:
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

    async def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching files in path order, a chunk at a time (the walk runs in a thread).

        Raises:
            SourceNotFound: The folder does not exist or is not a folder.
        """
        if not self._root.is_dir():
            raise SourceNotFound(f"folder {str(self._root)!r} does not exist (or is not a folder)")
        walker = self._walk()
        while True:
            chunk = await asyncio.to_thread(_take, walker, LIST_CHUNK)
            for item in chunk:
                if start_after is None or item.path > start_after:
                    yield item
            if len(chunk) < LIST_CHUNK:
                return

    def _walk(self) -> Iterator[ListedFile]:
        start = self._root / self._filter.prefix
        if not start.is_dir():
            return
        # The walk never follows a folder symlink, so below a real folder inside the roots only a
        # file symlink can lead out: other entries skip realpath (one lstat per path part, per file).
        real = os.path.realpath(start) == str(start)
        relative = start.relative_to(self._root).as_posix()
        yield from self._walk_dir(str(start), "" if relative == "." else relative + "/", confine=not real)

    def _walk_dir(self, folder: str, relative: str, *, confine: bool) -> Iterator[ListedFile]:
        try:
            # Folders sort as "name/" so full paths come out in lexical order (start_after relies on it).
            entries = sorted(
                os.scandir(folder), key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name
            )
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk_dir(entry.path, relative + entry.name + "/", confine=confine)
            elif entry.is_file():
                listed = self._listed(entry, relative + entry.name, confine=confine or entry.is_symlink())
                if listed is not None:
                    yield listed

    def _listed(self, entry: os.DirEntry[str], relative: str, *, confine: bool) -> ListedFile | None:
        if not self._filter.matches(relative):
            return None
        try:
            if confine:
                confine_path(entry.path, self._roots)  # a symlink may point out of the roots
            info = entry.stat()
        except (PathOutsideRoots, OSError):
            return None
        return ListedFile(path=relative, size=info.st_size, modified_at=datetime.fromtimestamp(info.st_mtime, UTC))

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


def _take(iterator: Iterator[ListedFile], count: int) -> list[ListedFile]:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) >= count:
            break
    return out
