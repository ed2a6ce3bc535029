"""The local-folder connector: globbing, nesting, odd names, confinement to the allowed roots."""

from __future__ import annotations

import os
import random
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


# Names around "/" in code-point order: "-" (0x2D) and "." (0x2E) sort before "/" (0x2F), "0" after it,
# so "a-b.csv" < "a.csv" < "a/x.csv" < "a0.csv" as full paths. A folder sorting as "a" instead of "a/"
# would put its files before "a-b.csv" and break both the order and the bisection of start_after.
AROUND_SLASH = ["a-b.csv", "a.csv", "a/x.csv", "a/y/z.csv", "a0.csv", "a0/b.csv", "ab.csv", "b/a-/c.csv",
                "b/a.csv", "b/a/c.csv", "b/a0.csv"]


def _make(root: Path, paths: list[str]) -> None:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")


async def _after(source: LocalSource, start_after: str | None, size: int) -> list[str]:
    return [f.path async for page in source.list_pages(start_after=start_after, size=size) for f in page]


async def test_paged_listing_resumes_exactly_after_any_path(tmp_path: Path) -> None:
    root = tmp_path / "around"
    _make(root, AROUND_SLASH)
    source = LocalSource(str(root), pattern="**/*.csv", allowed_roots=[root.resolve()])
    everything = await _paths(source)
    assert everything == sorted(AROUND_SLASH) == AROUND_SLASH
    # Every listed path, and paths that are not there: folders, prefixes, gone files, beyond the end.
    probes = [*everything, "", "a", "a/", "a/y", "a/y/", "a/w.csv", "a/zz/q.csv", "a0", "b", "b/a", "b/a/",
              "b/a-/", "b/a-/c.csv0", "c", "~"]
    for start_after in probes:
        for size in (1, 2, 1000):
            assert await _after(source, start_after, size) == [p for p in everything if p > start_after], (
                start_after, size)


async def test_paged_listing_matches_a_brute_force_resume_on_random_trees(tmp_path: Path) -> None:
    rng = random.Random(13)
    alphabet = ["a", "b", "-", ".", "0", "é", " "]
    for trial in range(5):
        root = tmp_path / f"random-{trial}"
        paths: set[str] = set()
        while len(paths) < 60:
            depth = rng.randint(1, 4)
            parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3))) for _ in range(depth)]
            parts = [p if p not in (".", "..") else p + "x" for p in parts]
            candidate = "/".join(parts)
            # A name cannot be both a folder and a file.
            if any(candidate.startswith(other + "/") or other.startswith(candidate + "/") for other in paths):
                continue
            paths.add(candidate)
        _make(root, sorted(paths))
        source = LocalSource(str(root), pattern="**", allowed_roots=[root.resolve()])
        everything = await _paths(source)
        assert everything == sorted(paths)
        probes = [*rng.sample(everything, 15), *(p + rng.choice(alphabet) for p in rng.sample(everything, 5))]
        for start_after in probes:
            assert await _after(source, start_after, 7) == [p for p in everything if p > start_after], start_after


async def test_pages_hold_at_most_size_entries_across_folders(tmp_path: Path) -> None:
    root = tmp_path / "paged"
    names = [f"d{d}/f{n}.csv" for d in range(3) for n in range(5)]
    _make(root, names)
    source = LocalSource(str(root), pattern="**/*.csv", allowed_roots=[root.resolve()])
    pages = [[f.path for f in page] async for page in source.list_pages(size=4)]
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert [p for page in pages for p in page] == sorted(names)
