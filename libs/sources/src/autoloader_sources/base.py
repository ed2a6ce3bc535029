"""The source connector port: list files under a path, stat and open them.

Every connector (local now; S3, Azure, GCS, FTP, SFTP later) implements :class:`Source` and
passes one behaviour suite.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import AsyncIterator
from datetime import datetime
from functools import lru_cache
from typing import BinaryIO, Protocol

import msgspec


class ListedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file found by a listing.

    Attributes:
        path: Path relative to the source's root path, with ``/`` separators.
        size: Size in bytes.
        modified_at: Last modification time (UTC).
        etag: Content identity where the store has one (None for local/FTP/SFTP).
    """

    path: str
    size: int
    modified_at: datetime
    etag: str | None = None


class Source(Protocol):
    """A place files are read from."""

    def list_files(self) -> AsyncIterator[ListedFile]:
        """Stream the files matching the source's pattern, in path order.

        Raises:
            TerminalError: The path does not exist or access is denied.
            TransientError: The store did not answer.
        """
        ...

    async def open(self, path: str) -> BinaryIO:
        """Open ``path`` (relative to the root) for reading.

        Raises:
            TerminalError: The file is gone or outside the source.
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
