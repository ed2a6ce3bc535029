"""The local-folder connector: globbing, nesting, odd names, confinement to the allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoloader_core.errors import TerminalError
from autoloader_sources.local import LocalSource, PathOutsideRoots, confine_path

pytestmark = pytest.mark.integration


async def _paths(source: LocalSource) -> list[str]:
    return [f.path async for f in source.list_files()]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    for rel in ["a.csv", "b.json", "2024/01/c.csv", "2024/02/d.csv", "deep/er/e f é.csv", "x/skip.csv"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("id\n1\n")
    return root


async def test_glob_patterns_select_files_in_path_order(tree: Path) -> None:
    roots = [tree.resolve()]
    assert await _paths(LocalSource(str(tree), pattern="*.csv", allowed_roots=roots)) == ["a.csv"]
    assert await _paths(LocalSource(str(tree), pattern="**/*.csv", exclude="x/**", allowed_roots=roots)) == [
        "2024/01/c.csv",
        "2024/02/d.csv",
        "a.csv",
        "deep/er/e f é.csv",
    ]
    assert await _paths(LocalSource(str(tree), pattern="2024/*/c.csv", allowed_roots=roots)) == [
        "2024/01/c.csv"
    ]


async def test_listing_reports_size_and_mtime(tree: Path) -> None:
    os.utime(tree / "a.csv", (1_700_000_000, 1_700_000_000))
    [listed] = [f async for f in LocalSource(str(tree), pattern="a.csv", allowed_roots=[tree]).list_files()]
    assert listed.size == 5
    assert listed.modified_at.timestamp() == 1_700_000_000


def test_paths_outside_the_roots_are_refused(tmp_path: Path, tree: Path) -> None:
    roots = [tree.resolve()]
    with pytest.raises(PathOutsideRoots, match="outside the allowed local roots"):
        confine_path("/etc", roots)
    with pytest.raises(PathOutsideRoots):
        confine_path(f"{tree}/../../etc", roots)
    with pytest.raises(PathOutsideRoots, match="absolute"):
        confine_path("relative/dir", roots)
    (tree / "escape").symlink_to(tmp_path.parent)
    with pytest.raises(PathOutsideRoots):
        confine_path(str(tree / "escape"), roots)
    assert confine_path(str(tree / "2024"), roots) == (tree / "2024").resolve()


async def test_symlinked_files_pointing_outside_are_not_listed(tmp_path: Path, tree: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    (tree / "leak.csv").symlink_to(secret)
    source = LocalSource(str(tree), pattern="*.csv", allowed_roots=[tree.resolve()])
    assert await _paths(source) == ["a.csv"]
    with pytest.raises(PathOutsideRoots):
        await source.open("leak.csv")
    with pytest.raises(PathOutsideRoots):
        await source.open("../secret.csv")


async def test_missing_folder_is_a_terminal_error(tree: Path) -> None:
    source = LocalSource(str(tree / "nope"), allowed_roots=[tree.resolve()])
    with pytest.raises(TerminalError, match="does not exist"):
        await _paths(source)


async def test_a_folder_symlink_in_the_pattern_prefix_is_confined_per_file(tmp_path: Path, tree: Path) -> None:
    # The walk checks realpath only where a symlink can lead out: here the start folder itself.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.csv").write_text("id\n1\n")
    (tree / "out").symlink_to(outside)
    (tree / "in").symlink_to(tree / "2024")
    roots = [tree.resolve()]
    assert await _paths(LocalSource(str(tree), pattern="out/*.csv", allowed_roots=roots)) == []
    assert await _paths(LocalSource(str(tree), pattern="in/*/*.csv", allowed_roots=roots)) == [
        "in/01/c.csv",
        "in/02/d.csv",
    ]
    (tree / "alias.csv").symlink_to(tree / "a.csv")  # a file symlink inside the roots is listed
    assert await _paths(LocalSource(str(tree), pattern="*.csv", allowed_roots=roots)) == ["a.csv", "alias.csv"]
