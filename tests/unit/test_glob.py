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
