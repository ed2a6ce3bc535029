"""Glob matching: the documented semantics, and linear time on hostile patterns."""

from __future__ import annotations

import time

import pytest

from autoloader_sources.base import PathFilter, glob_matches

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.json", "a.json", True),
        ("**/*.json", "y=2024/m=01/a.json", True),
        ("*.csv", "a.csv", True),
        ("*.csv", "sub/a.csv", False),
        ("data-2024-*.csv", "data-2024-01.csv", True),
        ("data-2024-?.csv", "data-2024-1.csv", True),
        ("data-2024-?.csv", "data-2024-/.csv", False),
        ("[ab].csv", "b.csv", True),
        ("[!ab].csv", "c.csv", True),
        ("[ab.csv", "[ab.csv", True),
        ("logs/**/*.gz", "logs/x.gz", True),
        ("logs/**/*.gz", "logs/2024/01/x.gz", True),
        ("logs/**/*.gz", "other/x.gz", False),
        ("a**/", "ab/c/", True),
        ("a**/", "ab/c", False),
        ("**", "any/depth/at.all", True),
        ("a{b,c}.csv", "a{b,c}.csv", True),  # braces are literal characters
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path) is expected


@pytest.mark.parametrize("pattern", ["**a**a**a**b", "*a" * 16 + "b", "**/" * 8 + "*a*a*a*a*b"])
def test_hostile_patterns_match_in_linear_time(pattern: str) -> None:
    # A backtracking regex of these takes minutes on one such path; the DFA reads it once.
    path = "/".join(["a" * 200] * 5)
    started = time.perf_counter()

    assert not glob_matches(pattern, path)
    assert time.perf_counter() - started < 1.0


def test_path_filter_excludes() -> None:
    selected = PathFilter("**/*.csv", exclude="tmp/**")

    assert selected.matches("2024/a.csv")
    assert not selected.matches("tmp/a.csv")
    assert selected.prefix == ""


def test_the_regex_fast_path_agrees_with_the_dfa() -> None:
    # Simple patterns (at most one unbounded wildcard, after an optional leading **/) match by a
    # regex, the others by the DFA: both must give the same answers.
    import random

    from autoloader_sources.base import _Glob

    atoms = ["a", "b", "/", ".", "*", "?", "[ab]", "[!a]", "**", "**/", "\n"]
    chars = ["a", "b", "c", "/", ".", "\n"]
    rng = random.Random(13)
    fast = 0
    for _ in range(3000):
        pattern = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 6)))
        by_regex, by_dfa = _Glob(pattern), _Glob(pattern)
        if by_regex._regex is None:
            continue
        fast += 1
        by_dfa._regex = None
        for _ in range(20):
            path = "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))
            assert by_regex.matches(path) == by_dfa.matches(path), (pattern, path)
    assert fast > 1000
    assert _Glob("**/*.csv")._regex is not None
    assert _Glob("**a**a**a**b")._regex is None
