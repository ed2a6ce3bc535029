"""Small JSON-lines files parsed together give the same rows as one parse per file, or refuse."""

from __future__ import annotations

import pyarrow as pa
import pytest

from autoloader_contracts.ingestion import FormatSpec
from autoloader_formats import read_json_lines_together, read_table, reads_together


def _per_file(contents: list[bytes]) -> pa.Table:
    tables = [read_table(pa.BufferReader(c), FormatSpec(type="json"), path_for_errors="f.jsonl") for c in contents]
    return pa.concat_tables(tables, promote_options="permissive")


def test_rows_counts_and_types_match_one_parse_per_file() -> None:
    contents = [
        b'{"id": 1, "v": 2}\n{"id": 2, "v": 3}\n',
        b'\n{"id": 3, "v": 1.5, "extra": "x"}\n   \n',  # blank lines, a new column, long -> double
        b'{"id": 4}',  # no final newline
    ]

    parsed = read_json_lines_together(contents)

    assert parsed is not None
    table, counts = parsed
    assert counts == [2, 1, 1]
    assert table.schema == _per_file(contents).schema
    assert table.to_pylist() == _per_file(contents).to_pylist()


@pytest.mark.parametrize(
    ("contents", "why"),
    [
        ([b'{"a": 1}\n', b"  \n"], "a file without rows"),
        ([b'{"a": 1}\n', b'{"a": \n'], "a malformed line"),
        ([b'{"a": 1}\n', b'{"a": "x"}\n'], "a type differing between files"),
        ([b'{"a": 1}\n', b'{"a": 2} {"a": 3}\n'], "two objects on one line"),
        ([b'{"a": 1}\n', b'{"a": "\xff"}\n'], "invalid UTF-8"),
        ([b'{"a": 1}\n', b"[1, 2]\n"], "not an object"),
    ],
)
def test_anything_unusual_is_left_to_the_per_file_reader(contents: list[bytes], why: str) -> None:
    assert read_json_lines_together(contents) is None, why


@pytest.mark.parametrize(
    ("fmt", "path", "size", "expected"),
    [
        (FormatSpec(type="json"), "a.jsonl", 100, True),
        (FormatSpec(type="json", options={"multiline": False}), "a.jsonl", 100, True),
        (FormatSpec(type="json", options={"multiline": True}), "a.json", 100, False),
        (FormatSpec(type="json"), "a.jsonl.gz", 100, False),
        (FormatSpec(type="json"), "a.jsonl", 0, False),
        (FormatSpec(type="json"), "a.jsonl", 2 * 1024 * 1024, False),
        (FormatSpec(type="csv"), "a.csv", 100, False),
    ],
)
def test_only_small_plain_json_lines_files_qualify(fmt: FormatSpec, path: str, size: int, expected: bool) -> None:
    assert reads_together(fmt, path, size) is expected
