"""Fixtures shared by the loader's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autoloader_core.settings import Settings
from autoloader_loader.embedded import EmbeddedEngine


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """An allowed local root with nothing in it."""
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
async def engine(database_url: str, tmp_path: Path, landing: Path) -> AsyncIterator[EmbeddedEngine]:
    """An embedded engine on the test's database, reading from ``landing``, writing a temp warehouse."""
    settings = Settings(database_url=database_url, local_roots=(landing,), warehouse=(tmp_path / "warehouse").as_uri())
    built = EmbeddedEngine(settings)
    yield built
    await built.close()
