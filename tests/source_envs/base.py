"""What the connector behaviour suite needs from each store: a fresh folder it can write into.

Each source type has a module here defining a function-scoped fixture ``<type>_place`` (built on a
session-scoped real server: moto, Azurite, fake-gcs-server, pyftpdlib, asyncssh, a temp dir) that
returns a :class:`SourcePlace`.
"""

from __future__ import annotations

from typing import Protocol

from autoloader_contracts.ingestion import SourceSpec


class SourcePlace(Protocol):
    """A fresh, empty folder (prefix, container path, remote dir) in one real store."""

    source_type: str
    credentials: dict[str, str] | None
    """Valid credentials (None where the type takes none, e.g. local)."""
    bad_credentials: dict[str, str] | None
    """Credentials the server refuses (None where the type takes none)."""

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        """A source spec whose path is this folder; ``options`` are merged into the connector options
        (``page_size`` forces small listing pages)."""
        ...

    def missing_spec(self) -> SourceSpec:
        """A spec whose bucket/container/folder does not exist."""
        ...

    async def put(self, relative: str, data: bytes) -> None:
        """Create or overwrite the file at ``relative`` (``/``-separated) under this folder."""
        ...
