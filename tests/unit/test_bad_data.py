"""Bad-data policies of the loader: fail_run, skip_file, skip_row per bad-file case (no servers)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from autoloader_contracts.ingestion import FormatSpec, SchemaSpec
from autoloader_loader.bad_data import ROW_ERRORS_CAP, BadDataLog, read_file
from autoloader_loader.engine import FileLoadError, LoadError

pytestmark = pytest.mark.unit

CSV = FormatSpec(type="csv")
JSON = FormatSpec(type="json")
PARQUET = FormatSpec(type="parquet")


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good_gz = gzip.compress(b"id,name\n1,a\n2,b\n")
    return {
        "corrupt.parquet": _write(tmp_path, "corrupt.parquet", b"PAR1 this is not parquet"),
        "truncated.csv.gz": _write(tmp_path, "truncated.csv.gz", good_gz[:20]),
        "ragged.csv": _write(tmp_path, "ragged.csv", b"id,name\n1,a\n2,b,extra\n3,c\n"),
        "latin1.csv": _write(tmp_path, "latin1.csv", b"id,name\n1,a\n2,caf\xe9\n3,c\n"),
        "empty.csv": _write(tmp_path, "empty.csv", b""),
    }


def _fmt(name: str) -> FormatSpec:
    return PARQUET if name.endswith(".parquet") else CSV


@pytest.mark.parametrize("name", ["corrupt.parquet", "truncated.csv.gz", "ragged.csv", "latin1.csv", "empty.csv"])
def test_fail_run_raises_a_file_load_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = _bad_files(tmp_path)[name]
    log = BadDataLog("fail_run")

    with pytest.raises(FileLoadError) as caught:
        read_file(path, _fmt(name), file=f"in/{name}", log=log)

    assert caught.value.file == f"in/{name}"
    assert caught.value.message.startswith(f"in/{name}: ")


@pytest.mark.parametrize(
    ("name", "reason", "line"),
    [
        ("corrupt.parquet", "parquet", None),
        ("truncated.csv.gz", "truncated", None),
        ("ragged.csv", "expected 2 columns, found 3", 3),
        ("latin1.csv", "not valid utf-8 text", 3),
        ("empty.csv", "the file is empty", None),
    ],
)
def test_skip_file_leaves_the_file_out_with_its_reason(
    tmp_path: Path, name: str, reason: str, line: int | None
) -> None:
    path = _bad_files(tmp_path)[name]
    log = BadDataLog("skip_file")

    assert read_file(path, _fmt(name), file=name, log=log) is None

    [failed] = log.failed_files
    assert (failed.file, failed.error_type, failed.line) == (name, "file_error", line)
    assert reason in failed.message.lower()
    assert log.rejected_rows == 0


def test_skip_row_drops_ragged_rows_with_their_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "ragged.csv", b"id,name\n1,a\n2,b,extra\n4,d\n5\n")
    log = BadDataLog("skip_row")

    table = read_file(path, CSV, file="ragged.csv", log=log)

    assert table is not None
    assert table.column("id").to_pylist() == [1, 4]
    assert log.rejected_rows == 2
    assert [(e.file, e.line, e.error_type) for e in log.row_errors] == [
        ("ragged.csv", 3, "row_error"),
        ("ragged.csv", 5, "row_error"),
    ]
    assert "expected 2 columns, found 3" in log.row_errors[0].message
    assert log.failed_files == []


def test_skip_row_drops_rows_that_are_not_utf8(tmp_path: Path) -> None:
    path = _bad_files(tmp_path)["latin1.csv"]
    log = BadDataLog("skip_row")

    table = read_file(path, CSV, file="latin1.csv", log=log)

    assert table is not None
    assert table.column("id").to_pylist() == [1, 3]
    assert [(e.line, e.message) for e in log.row_errors] == [(3, "column 'name' is not valid UTF-8 text")]


def test_skip_row_drops_broken_json_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "rows.jsonl", b'{"id": 1}\n{"id": \n[1, 2]\n\n{"id": 4}\n')
    log = BadDataLog("skip_row")

    table = read_file(path, JSON, file="rows.jsonl", log=log)

    assert table is not None
    assert table.column("id").to_pylist() == [1, 4]
    assert [e.line for e in log.row_errors] == [2, 3]
    assert log.rejected_rows == 2


@pytest.mark.parametrize("name", ["corrupt.parquet", "truncated.csv.gz", "empty.csv"])
def test_skip_row_leaves_out_files_unreadable_as_a_whole(tmp_path: Path, name: str) -> None:
    path = _bad_files(tmp_path)[name]
    log = BadDataLog("skip_row")

    assert read_file(path, _fmt(name), file=name, log=log) is None
    assert [f.file for f in log.failed_files] == [name]


@pytest.mark.parametrize("policy", ["fail_run", "skip_file", "skip_row"])
def test_a_header_only_csv_is_a_valid_file_with_no_rows(tmp_path: Path, policy: str) -> None:
    path = _write(tmp_path, "header.csv", b"id,name\n")
    log = BadDataLog(policy)

    table = read_file(path, CSV, file="header.csv", log=log)

    assert table is not None
    assert (table.num_rows, table.column_names) == (0, ["id", "name"])
    assert (log.failed_files, log.rejected_rows) == ([], 0)


def test_row_errors_are_capped_but_all_rejected_rows_are_counted(tmp_path: Path) -> None:
    bad = ROW_ERRORS_CAP + 50
    path = _write(tmp_path, "many.csv", b"id,name\n" + b"1,a,x\n" * bad + b"2,b\n")
    log = BadDataLog("skip_row")

    table = read_file(path, CSV, file="many.csv", log=log)

    assert table is not None
    assert table.num_rows == 1
    assert log.rejected_rows == bad
    assert len(log.row_errors) == ROW_ERRORS_CAP


def test_an_unknown_policy_says_which_ones_exist() -> None:
    with pytest.raises(LoadError, match="use fail_run, skip_file, skip_row"):
        BadDataLog("skip_everything")


def test_hints_pin_column_types_and_a_user_schema_fixes_them(tmp_path: Path) -> None:
    path = tmp_path / "typed.csv"
    path.write_text("id,amount,note\n1,2.50,a\n2,3.25,b\n")
    hinted = FormatSpec(type="csv", schema=SchemaSpec(hints={"id": "string", "amount": "decimal(10,2)"}))
    log = BadDataLog("skip_file")
    table = read_file(path, hinted, file="typed.csv", log=log)
    assert table is not None
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.column("note").to_pylist() == ["a", "b"]

    user = FormatSpec(type="csv", schema=SchemaSpec(schema_json=[{"name": "id", "type": "long"},
                                                                 {"name": "extra", "type": "date"}]))
    fixed = read_file(path, user, file="typed.csv", log=log)
    assert fixed is not None
    assert fixed.schema.field("id").type == pa.int64()
    assert fixed.column("extra").null_count == 2


def test_a_value_that_does_not_fit_its_hint_is_bad_data(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id\nabc\n")
    fmt = FormatSpec(type="csv", schema=SchemaSpec(hints={"id": "long"}))
    log = BadDataLog("skip_file")
    assert read_file(path, fmt, file="bad.csv", log=log) is None
    [failure] = log.failed_files
    assert "'id'" in failure.message
