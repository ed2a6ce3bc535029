"""Shared by the FTP and SFTP connectors: URL parsing, path containment and the ordered folder walk.

FTP and SFTP have no paged, sorted listing like object stores: a folder is read in one piece
(MLSD / readdir) and folders are walked one at a time. :func:`walk` turns that into the same
contract as the object stores: paths in lexical order, ``start_after`` honoured, prefix pruned.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from autoloader_core.errors import TerminalError
from autoloader_sources.base import ListedFile, PathFilter, SourceNotFound


class PathOutsideSource(TerminalError):
    """A relative path would leave the configured remote folder (``..``, absolute, control characters)."""


@dataclass(frozen=True)
class RemoteLocation:
    """Where a remote source points: host, port and the absolute folder on the server."""

    host: str
    port: int
    root: str

    def join(self, relative: str) -> str:
        """The absolute server path of ``relative`` (already checked by :func:`check_relative`)."""
        return posixpath.join(self.root, relative) if relative else self.root


@dataclass(frozen=True)
class RemoteEntry:
    """One entry of a remote folder listing."""

    name: str
    is_dir: bool
    size: int
    modified_at: datetime


def parse_location(path: str, *, scheme: str, default_port: int) -> RemoteLocation:
    """Parse ``scheme://host[:port]/dir/`` into a :class:`RemoteLocation`.

    Args:
        path: The source path from the spec.
        scheme: The expected URL scheme (``ftp`` or ``sftp``).
        default_port: Port used when the URL names none.

    Raises:
        TerminalError: The URL is malformed, has another scheme or contains ``..``.
    """
    parts = urlsplit(path)
    if parts.scheme.lower() != scheme or not parts.hostname:
        raise TerminalError(f"source path {path!r} must look like {scheme}://host[:port]/folder/")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise TerminalError(f"source path {path!r} has an invalid port") from exc
    folder = unquote(parts.path) or "/"
    if ".." in folder.split("/") or any(ord(c) < 32 for c in folder):
        raise TerminalError(f"source path {path!r} must not contain '..' or control characters")
    root = "/" + folder.strip("/") if folder.strip("/") else "/"
    return RemoteLocation(host=parts.hostname, port=port, root=root)


def check_relative(path: str) -> str:
    """Return ``path`` if it is a plain relative path inside the source folder.

    Raises:
        PathOutsideSource: The path is absolute, contains ``..`` (it could escape the configured
            folder) or control characters (they would end an FTP command).
    """
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts or any(ord(c) < 32 for c in path):
        raise PathOutsideSource(f"file {path!r} is outside the source folder (use a relative path without '..')")
    return path


ListDir = Callable[[str], Awaitable[list[RemoteEntry] | None]]
"""Lists one absolute remote folder; returns None when it does not exist."""


def _sort_key(entry: RemoteEntry) -> str:
    # Sorting folders as "name/" makes the depth-first walk yield full paths in lexical order
    # ("a-b.csv" < "a.csv" < "a/x.csv"), the order object stores use and start_after relies on.
    return entry.name + "/" if entry.is_dir else entry.name


def _max_depth(pattern: str) -> int | None:
    """Folder levels a pattern can reach (None: any, with ``**``)."""
    return None if "**" in pattern else pattern.count("/")


async def walk(
    list_dir: ListDir, location: RemoteLocation, path_filter: PathFilter, *, start_after: str | None = None, server: str
) -> AsyncIterator[ListedFile]:
    """Yield matching files under the location's root in lexical path order.

    Each folder is listed once and completely before its entries are yielded, so the caller's
    single control connection is free between items (a consumer may ``stat`` or ``read`` while
    iterating). Memory holds one listing per folder level, not the whole tree.

    Args:
        list_dir: Lists one absolute folder; returns None when the folder does not exist.
        location: Server and root folder.
        path_filter: Include/exclude globs; its prefix is where the walk starts.
        start_after: Skip every path up to and including this relative path.
        server: Names the server in messages ("FTP server host:port").

    Raises:
        SourceNotFound: The root folder does not exist (a missing prefix folder just lists nothing).
    """
    prefix = path_filter.prefix.rstrip("/")
    depth_limit = _max_depth(path_filter.pattern)
    entries = await list_dir(location.join(prefix))
    if entries is None:
        if prefix and await list_dir(location.root) is not None:
            return
        raise SourceNotFound(
            f"folder {location.root!r} does not exist on {server} (or is not a folder); check the source path"
        )
    stack: list[tuple[str, list[RemoteEntry]]] = [(prefix, sorted(entries, key=_sort_key, reverse=True))]
    while stack:
        folder, pending = stack[-1]
        if not pending:
            stack.pop()
            continue
        entry = pending.pop()
        relative = f"{folder}/{entry.name}" if folder else entry.name
        if entry.is_dir:
            if _worth_descending(relative, depth_limit, start_after):
                children = await list_dir(location.join(relative)) or []
                stack.append((relative, sorted(children, key=_sort_key, reverse=True)))
        elif (start_after is None or relative > start_after) and path_filter.matches(relative):
            yield ListedFile(path=relative, size=entry.size, modified_at=entry.modified_at)


def _worth_descending(relative: str, depth_limit: int | None, start_after: str | None) -> bool:
    if depth_limit is not None and relative.count("/") + 1 > depth_limit:
        return False  # the pattern cannot match files that deep
    if start_after is None:
        return True
    # Every path in this folder starts with "relative/": all of them were seen already when
    # start_after sorts after that prefix without lying inside the folder.
    folder_prefix = relative + "/"
    return start_after < folder_prefix or start_after.startswith(folder_prefix)
