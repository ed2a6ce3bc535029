"""The local-folder place for the connector behaviour suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoloader_contracts.ingestion import SourceSpec

ALLOWED_ROOT_ENV = "allowed_roots"


class LocalPlace:
    """A temp folder under an allowed root."""

    source_type = "local"
    credentials = None
    bad_credentials = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "data"
        self.folder.mkdir()

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return SourceSpec(type="local", path=str(self.folder), file_pattern=pattern, exclude_pattern=exclude,
                          options=dict(options or {}))

    def missing_spec(self) -> SourceSpec:
        return SourceSpec(type="local", path=str(self.root / "missing"))

    async def put(self, relative: str, data: bytes) -> None:
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        # Make a rewrite visible to size+mtime change detection even within one second.
        stat = target.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        return (Path(os.path.realpath(self.root)),)


@pytest.fixture
def local_place(tmp_path: Path) -> LocalPlace:
    """A fresh local folder."""
    return LocalPlace(tmp_path)
