"""Per-format readers and options: CSV/TSV, JSON lines and documents, Parquet, ORC, Avro, compression, bad rows."""

from __future__ import annotations

import bz2
import decimal
import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.orc as paorc
import pyarrow.parquet as pq
import pytest

from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import TerminalError
from autoloader_formats import BadRow, iter_batches, read_table

pytestmark = pytest.mark.unit

CSV = FormatSpec(type="csv")
JSON = FormatSpec(type="json")


def _read(data: bytes, fmt: FormatSpec, name: str = "f", **kwargs: object) -> pa.Table:
    return read_table(io.BytesIO(data), fmt, path_for_errors=name, **kwargs)  # type: ignore[arg-type]


def _compress(codec: str, data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, codec) as out:
        out.write(data)
    return bytes(sink.getvalue().to_pybytes())


# --- CSV / TSV -------------------------------------------------------------------------------


def test_tsv_uses_tab_by_default() -> None:
    table = _read(b"id\tname\n1\ta,b\n2\tc\n", FormatSpec(type="tsv"))
    assert table.to_pylist() == [{"id": 1, "name": "a,b"}, {"id": 2, "name": "c"}]


def test_csv_quote_and_escape_options() -> None:
    data = b"id,text\n1,'a,b'\n2,'it\\'s'\n"
    table = _read(data, FormatSpec(type="csv", options={"quote": "'", "escape": "\\"}))
    assert table.column("text").to_pylist() == ["a,b", "it's"]


def test_csv_without_header_gets_generated_names() -> None:
    table = _read(b"1,x\n2,y\n", FormatSpec(type="csv", options={"header": "false"}))
    assert table.schema.names == ["f0", "f1"]
    assert table.num_rows == 2


def test_csv_null_value_list() -> None:
    fmt = FormatSpec(type="csv", options={"null_value": ["NA", "-"]})
    table = _read(b"a,b\nNA,x\n2,-\n", fmt)
    assert table.to_pylist() == [{"a": None, "b": "x"}, {"a": 2, "b": None}]


def test_csv_utf16_encoding() -> None:
    table = _read("name\nzoë\n".encode("utf-16"), FormatSpec(type="csv", options={"encoding": "utf-16"}))
    assert table.column("name").to_pylist() == ["zoë"]


def test_csv_multiline_values() -> None:
    table = _read(b'id,note\n1,"two\nlines"\n2,x\n', FormatSpec(type="csv", options={"multiline": True}))
    assert table.column("note").to_pylist() == ["two\nlines", "x"]


def test_header_only_csv_is_zero_rows_with_its_columns() -> None:
    table = _read(b"id,name\n", CSV, "h.csv")
    assert table.num_rows == 0
    assert table.schema.names == ["id", "name"]
    batches = list(iter_batches(io.BytesIO(b"id,name\n"), CSV, path_for_errors="h.csv"))
    assert [batch.num_rows for batch in batches] == [0]


def test_csv_batches_respect_batch_rows() -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(1000))
    batches = list(iter_batches(io.BytesIO(data), CSV, path_for_errors="x.csv", batch_rows=300))
    assert [batch.num_rows for batch in batches] == [300, 300, 300, 100]
    assert batches[-1].column(0).to_pylist()[-1] == 999


def test_ragged_csv_rows_are_reported_with_line_numbers_and_skipped() -> None:
    bad: list[BadRow] = []
    table = _read(b"a,b\n1,2\n3,4,5\n6,7\n8\n", CSV, "r.csv", on_bad_row=bad.append)
    assert table.to_pylist() == [{"a": 1, "b": 2}, {"a": 6, "b": 7}]
    assert bad == [
        BadRow(line=3, reason="expected 2 columns, found 3: '3,4,5'"),
        BadRow(line=5, reason="expected 2 columns, found 1: '8'"),
    ]


def test_ragged_csv_row_without_handler_fails_the_file_naming_the_line() -> None:
    with pytest.raises(TerminalError) as caught:
        _read(b"a,b\n1,2\n3,4,5\n", CSV, "in/r.csv")
    assert caught.value.message == "in/r.csv: line 3: expected 2 columns, found 3: '3,4,5'"


def test_invalid_utf8_csv_row_is_skipped_or_fails_the_file() -> None:
    data = b"id,name\n1,ok\n2,\xff\xfe\n3,fine\n"
    bad: list[BadRow] = []
    table = _read(data, CSV, "u.csv", on_bad_row=bad.append)
    assert table.to_pylist() == [{"id": 1, "name": "ok"}, {"id": 3, "name": "fine"}]
    assert bad == [BadRow(line=3, reason="column 'name' is not valid UTF-8 text")]
    with pytest.raises(TerminalError, match=r"^u.csv: line 3: column 'name' is not valid UTF-8 text$"):
        _read(data, CSV, "u.csv")


def test_undecodable_text_in_another_encoding_fails_the_file_with_advice() -> None:
    with pytest.raises(TerminalError, match=r"^s.csv: cannot read as csv: .*set format option 'encoding'"):
        _read(b"name\n\xff\xfe\xfd\n", FormatSpec(type="csv", options={"encoding": "shift_jis"}), "s.csv")


# --- JSON ------------------------------------------------------------------------------------


def test_json_lines_bad_lines_are_reported_and_skipped() -> None:
    data = b'{"a": 1}\n[1, 2]\n{"a":\n\n{"a": 2, "b": "\xff"}\n"text"\n{"a": 3}\n'
    bad: list[BadRow] = []
    table = _read(data, JSON, "j.jsonl", on_bad_row=bad.append)
    assert table.column("a").to_pylist() == [1, 3]
    assert [(row.line, row.reason.split(" (")[0]) for row in bad] == [
        (2, "not a JSON object"),
        (3, "not valid JSON"),
        (5, "not valid UTF-8 text"),
        (6, "not a JSON object"),
    ]


def test_json_line_that_is_not_an_object_fails_the_file_without_handler() -> None:
    with pytest.raises(TerminalError) as caught:
        _read(b'{"a": 1}\n[1]\n', JSON, "j.jsonl")
    assert caught.value.message == "j.jsonl: line 2: not a JSON object (found list)"


def test_json_lines_chunks_unify_to_one_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoloader_formats import readers

    monkeypatch.setattr(readers, "_JSON_CHUNK_BYTES", 64)
    lines = [{"id": i, "v": None} for i in range(10)] + [{"id": 10, "v": 1.5, "extra": "x"}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    batches = list(iter_batches(io.BytesIO(data), JSON, path_for_errors="c.jsonl"))
    assert len(batches) > 2
    table = _read(data, JSON, "c.jsonl")
    assert table.num_rows == 11
    assert table.schema.field("v").type == pa.float64()
    assert table.column("extra").to_pylist()[-1] == "x"
    assert table.column("id").to_pylist() == list(range(11))


def test_json_line_numbers_count_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoloader_formats import readers

    monkeypatch.setattr(readers, "_JSON_CHUNK_BYTES", 32)
    data = b"".join(b'{"n": %d}\n' % i for i in range(20)) + b"oops\n"
    with pytest.raises(TerminalError, match=r"^j: line 21: not valid JSON"):
        _read(data, JSON, "j")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'[\n  {"a": 1, "b": {"c": true}},\n  {"a": 2}\n]', [{"a": 1, "b": {"c": True}}, {"a": 2, "b": None}]),
        (b'{\n  "a": 7\n}\n', [{"a": 7}]),
    ],
)
def test_multiline_json_documents_and_arrays(document: bytes, expected: list[dict[str, object]]) -> None:
    table = _read(document, FormatSpec(type="json", options={"multiline": True}))
    assert table.to_pylist() == expected


def test_multiline_json_array_elements_that_are_not_objects_are_bad_rows() -> None:
    bad: list[BadRow] = []
    fmt = FormatSpec(type="json", options={"multiline": "true"})
    table = _read(b'[{"a": 1}, 5, {"a": 2}]', fmt, on_bad_row=bad.append)
    assert table.column("a").to_pylist() == [1, 2]
    assert bad == [BadRow(line=2, reason="element 2 is not a JSON object (found int)")]


def test_type_conflict_within_a_json_chunk_is_a_clear_terminal_error() -> None:
    with pytest.raises(TerminalError, match=r"^t.jsonl: cannot read as json: .*"):
        _read(b'{"a": 1}\n{"a": {"b": 2}}\n', JSON, "t.jsonl", on_bad_row=lambda row: None)


# --- Parquet, ORC, Avro ----------------------------------------------------------------------


def test_parquet_streams_batches_of_batch_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": list(range(2500))}), path, row_group_size=1000, compression="snappy")
    batches = list(iter_batches(str(path), FormatSpec(type="parquet"), path_for_errors="p", batch_rows=400))
    assert all(batch.num_rows <= 400 for batch in batches)
    assert sum(batch.num_rows for batch in batches) == 2500


def test_truncated_parquet_is_a_terminal_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(100))}), path)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(TerminalError, match=r"^t.parquet: cannot read as parquet: "):
        read_table(str(path), FormatSpec(type="parquet"), path_for_errors="t.parquet")


@pytest.mark.parametrize("compression", ["snappy", "zstd", "lz4", "uncompressed"])
def test_orc_by_stripe(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "o.orc"
    paorc.write_table(pa.table({"id": list(range(3000)), "s": ["x"] * 3000}), str(path), compression=compression)
    batches = list(iter_batches(str(path), FormatSpec(type="orc"), path_for_errors="o.orc", batch_rows=1000))
    assert [batch.num_rows for batch in batches] == [1000, 1000, 1000]
    assert read_table(str(path), FormatSpec(type="orc"), path_for_errors="o.orc").column("id")[-1].as_py() == 2999


def test_corrupt_orc_is_a_terminal_error() -> None:
    with pytest.raises(TerminalError, match=r"^o.orc: cannot read as orc: "):
        _read(b"ORC this is not orc at all", FormatSpec(type="orc"), "o.orc")


_AVRO_SCHEMA = {
    "type": "record",
    "name": "row",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "either", "type": ["int", "string"]},
    ],
}


def _avro_bytes(rows: int, codec: str = "null") -> bytes:
    records = [
        {
            "id": i,
            "name": None if i % 2 else f"n{i}",
            "amount": decimal.Decimal("12.50"),
            "day": date(2024, 1, 2),
            "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "tags": ["a"],
            "either": i if i % 2 else "s",
        }
        for i in range(rows)
    ]
    out = io.BytesIO()
    fastavro.writer(out, _AVRO_SCHEMA, records, codec=codec, sync_interval=1000)
    return out.getvalue()


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_avro_types_and_block_codecs(codec: str) -> None:
    table = _read(_avro_bytes(5, codec), FormatSpec(type="avro"), "a.avro")
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("tags").type == pa.list_(pa.string())
    first = table.to_pylist()[0]
    assert first["amount"] == decimal.Decimal("12.50")
    assert first["name"] == "n0"
    assert table.column("either").to_pylist() == ['"s"', "1", '"s"', "3", '"s"']


def test_avro_batches_and_outer_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.avro.gz"
    path.write_bytes(gzip.compress(_avro_bytes(2500)))
    batches = list(iter_batches(str(path), FormatSpec(type="avro"), path_for_errors="a.avro.gz", batch_rows=1000))
    assert [batch.num_rows for batch in batches] == [1000, 1000, 500]


def test_not_avro_is_a_terminal_error() -> None:
    with pytest.raises(TerminalError, match=r"^x.avro: cannot read as avro: "):
        _read(b'{"a": 1}', FormatSpec(type="avro"), "x.avro")


# --- Compression -----------------------------------------------------------------------------

_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".zst": lambda data: _compress("zstd", data),
    ".lz4": lambda data: _compress("lz4", data),
}


@pytest.mark.parametrize("suffix", list(_COMPRESSORS))
@pytest.mark.parametrize(
    ("fmt", "name", "payload"),
    [
        (CSV, "x.csv", b"id,v\n1,a\n2,b\n"),
        (FormatSpec(type="tsv"), "x.tsv", b"id\tv\n1\ta\n2\tb\n"),
        (JSON, "x.jsonl", b'{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n'),
        (FormatSpec(type="json", options={"multiline": True}), "x.json", b'[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]'),
    ],
)
def test_every_codec_with_every_text_format(
    tmp_path: Path, suffix: str, fmt: FormatSpec, name: str, payload: bytes
) -> None:
    path = tmp_path / (name + suffix)
    path.write_bytes(_COMPRESSORS[suffix](payload))
    table = read_table(str(path), fmt, path_for_errors=path.name)
    assert table.to_pylist() == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]


def test_compression_option_without_extension() -> None:
    data = _compress("lz4", b"id\n1\n")
    table = _read(data, FormatSpec(type="csv", options={"compression": "lz4"}), "plain.csv")
    assert table.column("id").to_pylist() == [1]


def test_parquet_and_orc_inside_outer_compression(tmp_path: Path) -> None:
    sink = pa.BufferOutputStream()
    paorc.write_table(pa.table({"id": [1, 2]}), sink)
    path = tmp_path / "o.orc.zst"
    path.write_bytes(_compress("zstd", sink.getvalue().to_pybytes()))
    assert read_table(str(path), FormatSpec(type="orc"), path_for_errors="o.orc.zst").num_rows == 2


@pytest.mark.parametrize(("name", "options"), [("x.csv.snappy", {}), ("x.csv", {"compression": "snappy"})])
def test_snappy_as_whole_file_compression_is_rejected_naming_it(name: str, options: dict[str, str]) -> None:
    with pytest.raises(TerminalError, match="snappy compression of a whole file is not supported"):
        _read(b"a\n1\n", FormatSpec(type="csv", options=options), name)


@pytest.mark.parametrize(("fmt", "name"), [(CSV, "t.csv.gz"), (JSON, "t.jsonl.gz")])
def test_truncated_gzip_is_a_terminal_error(tmp_path: Path, fmt: FormatSpec, name: str) -> None:
    body = b"id\n" + b"".join(b"%d\n" % i for i in range(5000)) if fmt is CSV else b'{"id": 1}\n' * 5000
    path = tmp_path / name
    path.write_bytes(gzip.compress(body)[:-200])
    with pytest.raises(TerminalError) as caught:
        read_table(str(path), fmt, path_for_errors=name)
    assert caught.value.message.startswith(f"{name}: cannot read as {fmt.type}: ")


# --- Empty files and sampling ----------------------------------------------------------------


@pytest.mark.parametrize("fmt_type", ["csv", "tsv", "json", "parquet", "avro", "orc"])
def test_empty_file_is_a_terminal_error_for_every_format(tmp_path: Path, fmt_type: str) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(TerminalError, match=r"^in/empty: cannot read as \w+: the file is empty"):
        read_table(str(path), FormatSpec(type=fmt_type), path_for_errors="in/empty")
    with pytest.raises(TerminalError, match=r"^in/empty: .*the file is empty"):
        read_table(io.BytesIO(b""), FormatSpec(type=fmt_type), path_for_errors="in/empty")


def test_empty_gzip_is_empty() -> None:
    with pytest.raises(TerminalError, match="the file is empty"):
        _read(gzip.compress(b""), JSON, "e.jsonl.gz")


def test_limit_bytes_reads_whole_lines_of_the_start_only() -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(10_000))
    batches = list(iter_batches(io.BytesIO(data), CSV, path_for_errors="s.csv", limit_bytes=1000))
    rows = sum(batch.num_rows for batch in batches)
    assert 0 < rows < 400
    assert batches[-1].column(0).to_pylist()[-1] == rows - 1
