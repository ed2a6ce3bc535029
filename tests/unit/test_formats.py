"""Readers to Arrow and Iceberg type normalisation (files in tmp_path; no servers)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import TerminalError
from autoloader_formats import compression_of, normalise_for_iceberg, read_table

pytestmark = pytest.mark.unit

CSV = FormatSpec(type="csv")
JSON = FormatSpec(type="json")
PARQUET = FormatSpec(type="parquet")


def _csv_text(rows: int) -> str:
    return "id,name,score\n" + "".join(f"{i},n{i},{i / 2}\n" for i in range(rows))


def test_csv_with_header_infers_types(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(_csv_text(5))
    table = read_table(str(path), CSV, path_for_errors="a.csv")
    assert table.num_rows == 5
    assert table.schema.names == ["id", "name", "score"]
    assert table.schema.field("id").type == pa.int64()
    assert table.column("name").to_pylist()[-1] == "n4"


def test_csv_options_delimiter_no_header_and_null_value() -> None:
    data = b"1;x;-\n2;-;3.5\n"
    fmt = FormatSpec(type="csv", options={"header": False, "delimiter": ";", "null_value": "-"})
    table = read_table(io.BytesIO(data), fmt, path_for_errors="b.csv")
    assert table.num_rows == 2
    assert table.column(1).to_pylist() == ["x", None]
    assert table.column(2).to_pylist() == [None, 3.5]


def test_csv_latin1_encoding() -> None:
    data = "name\ncafé\n".encode("latin-1")
    table = read_table(io.BytesIO(data), FormatSpec(type="csv", options={"encoding": "latin-1"}),
                       path_for_errors="c.csv")
    assert table.column("name").to_pylist() == ["café"]


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_compression_is_detected_from_the_extension(tmp_path: Path, suffix: str, compress: object) -> None:
    path = tmp_path / f"d.csv{suffix}"
    path.write_bytes(compress(_csv_text(100).encode()))  # type: ignore[operator]
    assert read_table(str(path), CSV, path_for_errors=path.name).num_rows == 100
    with path.open("rb") as handle:
        assert read_table(handle, CSV, path_for_errors=path.name).num_rows == 100


def test_zstd_compression(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl.zst"
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(b'{"a": 1}\n{"a": 2}\n')
    assert read_table(str(path), JSON, path_for_errors=path.name).column("a").to_pylist() == [1, 2]


def test_compression_option_overrides_extension_and_rejects_unknown() -> None:
    assert compression_of("x.csv", "gzip") == "gzip"
    assert compression_of("x.csv.gz", "none") is None
    assert compression_of("x.csv.gz", "auto") == "gzip"
    with pytest.raises(TerminalError, match="compression 'rar' is not supported"):
        compression_of("x.csv", "rar")


def test_json_lines_with_nested_values() -> None:
    lines = [{"id": 1, "tags": ["a"], "meta": {"k": "v"}}, {"id": 2, "tags": [], "meta": {"k": None}}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    table = read_table(io.BytesIO(data), JSON, path_for_errors="f.jsonl")
    assert table.num_rows == 2
    assert table.column("meta").to_pylist() == [{"k": "v"}, {"k": None}]


def test_parquet_from_path_and_from_compressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"id": list(range(10))}), path)
    assert read_table(str(path), PARQUET, path_for_errors="g.parquet").num_rows == 10
    gz = tmp_path / "g.parquet.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_table(str(gz), PARQUET, path_for_errors="g.parquet.gz").column("id").to_pylist()[-1] == 9


@pytest.mark.parametrize(
    ("fmt", "content", "expected"),
    [
        (CSV, b"", "the file is empty"),
        (JSON, b"  \n", "the file is empty"),
        (PARQUET, b"", "cannot read as parquet"),
        (PARQUET, b"PAR1 this is not parquet", "cannot read as parquet"),
        (JSON, b'{"a": 1}\n{"a": ', "line 2: not valid JSON"),
        (CSV, b"a,b\n1,2\n3,4,5\n", "line 3: expected 2 columns, found 3"),
    ],
)
def test_bad_files_raise_terminal_errors_naming_the_file(
    fmt: FormatSpec, content: bytes, expected: str
) -> None:
    with pytest.raises(TerminalError) as caught:
        read_table(io.BytesIO(content), fmt, path_for_errors="dir/bad.file")
    assert caught.value.message.startswith("dir/bad.file: ")
    assert expected in caught.value.message


def test_corrupt_gzip_is_a_terminal_error(tmp_path: Path) -> None:
    path = tmp_path / "h.csv.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(TerminalError, match=r"^h.csv.gz: cannot read as csv"):
        read_table(str(path), CSV, path_for_errors="h.csv.gz")


def test_missing_file_and_unknown_format_are_terminal(tmp_path: Path) -> None:
    with pytest.raises(TerminalError, match=r"missing\.csv: cannot read"):
        read_table(str(tmp_path / "missing.csv"), CSV, path_for_errors="missing.csv")
    with pytest.raises(TerminalError, match="format 'xml' is not supported"):
        read_table(io.BytesIO(b"<a/>"), FormatSpec(type="xml"), path_for_errors="x.xml")


def test_normalise_for_iceberg_maps_unsupported_types() -> None:
    stamp = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    table = pa.table({
        "ns": pa.array([stamp.replace(tzinfo=None)], pa.timestamp("ns")),
        "tz": pa.array([stamp], pa.timestamp("ns", tz="Europe/Paris")),
        "u32": pa.array([7], pa.uint32()),
        "nothing": pa.array([None], pa.null()),
        "cat": pa.array(["x"]).dictionary_encode(),
        "big": pa.array(["s"], pa.large_string()),
        "nested": pa.array([{"when": 1}], pa.struct([("when", pa.timestamp("s"))])),
    })
    out = normalise_for_iceberg(table)
    assert out.schema.field("ns").type == pa.timestamp("us")
    assert out.schema.field("tz").type == pa.timestamp("us", tz="UTC")
    assert out.column("tz").to_pylist() == [stamp]
    assert out.schema.field("u32").type == pa.int64()
    assert out.schema.field("nothing").type == pa.string()
    assert out.column("nothing").to_pylist() == [None]
    assert out.schema.field("cat").type == pa.string()
    assert out.column("cat").to_pylist() == ["x"]
    assert out.schema.field("big").type == pa.large_string()
    assert out.schema.field("nested").type == pa.struct([("when", pa.timestamp("us"))])


def test_normalise_keeps_a_fitting_table_as_is_and_refuses_uint64_overflow() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert normalise_for_iceberg(table) is table
    with pytest.raises(pa.ArrowInvalid, match="above the largest Iceberg long"):
        normalise_for_iceberg(pa.table({"u": pa.array([2**64 - 1], pa.uint64())}))
