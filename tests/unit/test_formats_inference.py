"""Schema inference from a sample, hints, user schemas and the type-name parser."""

from __future__ import annotations

import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoloader_contracts.ingestion import FormatSpec, SchemaSpec
from autoloader_core.errors import TerminalError, ValidationFailed
from autoloader_formats import conform, infer_schema, parse_type, schema_from_json
from autoloader_formats.inference import unify

pytestmark = pytest.mark.unit

JSON = FormatSpec(type="json")
CSV = FormatSpec(type="csv")


def _jsonl(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_files_are_unified_permissively_with_null_fractions(tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "1.jsonl", [{"id": 1, "amount": 2, "name": "a"}] * 3)
    second = _jsonl(tmp_path / "2.jsonl", [{"id": 2, "amount": 2.5, "extra": None}] * 1)
    inferred = infer_schema([first, second], JSON)
    assert inferred.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.float64()),
            ("name", pa.string()),
            ("extra", pa.string()),
        ]
    )
    assert inferred.rows_sampled == 4
    assert inferred.malformed_rows == 0
    assert inferred.null_fraction == {"id": 0.0, "amount": 0.0, "name": 0.25, "extra": 1.0}


def test_irreconcilable_types_become_string() -> None:
    merged = unify(
        [pa.schema([("a", pa.int64()), ("b", pa.null())]), pa.schema([("a", pa.string()), ("b", pa.int32())])]
    )
    assert merged == pa.schema([("a", pa.string()), ("b", pa.int32())])


def test_only_the_sample_is_read(tmp_path: Path) -> None:
    paths = [_jsonl(tmp_path / f"{i}.jsonl", [{f"c{i}": i}] * 5) for i in range(4)]
    inferred = infer_schema(paths, JSON, sample_files=2)
    assert inferred.schema.names == ["c0", "c1"]
    assert inferred.rows_sampled == 10
    big = tmp_path / "big.csv"
    big.write_text("id,v\n" + "".join(f"{i},x\n" for i in range(100_000)))
    capped = infer_schema([str(big)], CSV, sample_bytes=1000)
    assert 50 < capped.rows_sampled < 200
    assert capped.schema == pa.schema([("id", pa.int64()), ("v", pa.string())])


def test_malformed_rows_in_the_sample_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\nnot json\n[2]\n{"a": 3}\n')
    inferred = infer_schema([str(path)], JSON)
    assert inferred.rows_sampled == 2
    assert inferred.malformed_rows == 2
    assert [(name, row.line) for name, row in inferred.bad_rows] == [(str(path), 2), (str(path), 3)]


def test_hints_pin_types_and_add_missing_columns(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "h.jsonl", [{"id": 1, "amount": 1.5, "ts": "2024-01-01T00:00:00"}])
    hints = {"amount": "decimal(10,2)", "id": "long", "ts": "timestamp", "later": "Boolean"}
    inferred = infer_schema([path], JSON, hints=hints)
    assert inferred.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.decimal128(10, 2)),
            ("ts", pa.timestamp("us")),
            ("later", pa.bool_()),
        ]
    )


def test_hints_default_to_the_format_spec(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "h.jsonl", [{"id": 1}])
    fmt = FormatSpec(type="json", schema=SchemaSpec(hints={"id": "int"}))
    assert infer_schema([path], fmt).schema == pa.schema([("id", pa.int32())])


def test_user_schema_replaces_inference_without_reading(tmp_path: Path) -> None:
    schema_json = [
        {"name": "id", "type": "long", "nullable": False},
        {"name": "price", "type": "decimal(12, 4)"},
        {"name": "day", "type": "date"},
    ]
    inferred = infer_schema([str(tmp_path / "does-not-exist.jsonl")], JSON, schema_json=schema_json)
    assert inferred.schema == pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("price", pa.decimal128(12, 4)),
            pa.field("day", pa.date32()),
        ]
    )
    assert inferred.rows_sampled == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("string", pa.string()),
        ("int", pa.int32()),
        ("LONG", pa.int64()),
        ("float", pa.float32()),
        ("double", pa.float64()),
        ("boolean", pa.bool_()),
        ("date", pa.date32()),
        ("timestamp", pa.timestamp("us")),
        ("timestamptz", pa.timestamp("us", tz="UTC")),
        (" decimal(38, 0) ", pa.decimal128(38, 0)),
    ],
)
def test_type_names(name: str, expected: pa.DataType) -> None:
    assert parse_type(name, column="c") == expected


def test_bad_hints_name_every_column_and_the_accepted_types(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        infer_schema([], JSON, hints={"a": "varchar", "b": "decimal(40,2)", "c": "long"})
    fields = {error.field: error.message for error in caught.value.errors}
    assert set(fields) == {"format.schema.hints.a", "format.schema.hints.b"}
    assert (
        "unknown type 'varchar' for column 'a'; use one of string, binary, boolean, int, long"
        in fields["format.schema.hints.a"]
    )
    assert "decimal(40,2) is out of range" in fields["format.schema.hints.b"]
    assert isinstance(caught.value, TerminalError)


@pytest.mark.parametrize(
    ("schema_json", "field", "message"),
    [
        ({"id": "long"}, "format.schema.schema_json", "must be a non-empty list"),
        ([], "format.schema.schema_json", "must be a non-empty list"),
        ([{"type": "long"}], "format.schema.schema_json[0]", 'must be an object with a "name"'),
        (
            [{"name": "a", "type": "long"}, {"name": "a", "type": "int"}],
            "format.schema.schema_json[1]",
            "appears twice",
        ),
        ([{"name": "a", "type": "money"}], "format.schema.schema_json.a", "unknown type 'money' for column 'a'"),
    ],
)
def test_bad_user_schemas_are_validation_errors(schema_json: object, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        schema_from_json(schema_json)
    assert caught.value.errors[0].field == field
    assert message in caught.value.errors[0].message


def test_inference_over_parquet_and_csv_normalises_for_iceberg(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"u": pa.array([1, None], pa.uint32()), "n": pa.array([None, None], pa.null())}), path)
    inferred = infer_schema([str(path)], FormatSpec(type="parquet"))
    assert inferred.schema == pa.schema([("u", pa.int64()), ("n", pa.string())])
    assert inferred.null_fraction == {"u": 0.5, "n": 1.0}


def test_an_unreadable_sample_file_is_a_terminal_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    with pytest.raises(TerminalError, match=r"^in/e.csv: cannot read as csv: the file is empty"):
        infer_schema([str(path)], CSV, paths_for_errors=["in/e.csv"])


def test_conform_casts_to_the_schema_adds_missing_and_drops_or_keeps_extra() -> None:
    batch = pa.record_batch({"id": [1, 2], "amount": [1.5, 2.25], "extra": ["x", "y"]})
    schema = pa.schema([("id", pa.int64()), ("amount", pa.decimal128(10, 2)), ("later", pa.string())])
    out = conform(batch, schema, path_for_errors="f")
    assert out.schema == schema
    assert out.to_pylist()[1] == {"id": 2, "amount": decimal.Decimal("2.25"), "later": None}
    kept = conform(batch, schema, path_for_errors="f", keep_extra=True)
    assert kept.schema.names == ["id", "amount", "later", "extra"]


def test_conform_names_the_column_that_does_not_fit() -> None:
    batch = pa.record_batch({"id": ["1", "abc"]})
    with pytest.raises(TerminalError, match=r"^f.csv: column 'id' holds string values that do not fit int64"):
        conform(batch, pa.schema([("id", pa.int64())]), path_for_errors="f.csv")
