"""Schema inference from a sample of files, schema hints and user-supplied schemas.

Type names (hints and ``schema_json``): ``string``, ``binary``, ``boolean``, ``int``, ``long``,
``float``, ``double``, ``date``, ``timestamp`` (no zone), ``timestamptz`` (UTC) and
``decimal(p,s)``; the aliases ``integer``, ``bigint``, ``bool`` and ``str`` are accepted too.

``schema_json`` has one shape: a list of ``{"name": ..., "type": ..., "nullable": true}`` objects
(``nullable`` optional, default true). It replaces inference entirely: no file is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import FieldError, TerminalError, ValidationFailed
from autoloader_formats.normalise import iceberg_type
from autoloader_formats.readers import BadRow, iter_batches

DEFAULT_SAMPLE_FILES = 10
DEFAULT_SAMPLE_BYTES = 10 * 1024 * 1024

_TYPE_NAMES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "str": pa.string(),
    "binary": pa.binary(),
    "boolean": pa.bool_(),
    "bool": pa.bool_(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "long": pa.int64(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
ACCEPTED_TYPES = "string, binary, boolean, int, long, float, double, date, timestamp, timestamptz, decimal(p,s)"
"""The type names :func:`parse_type` accepts, for error messages."""


@dataclass(frozen=True)
class Inferred:
    """The result of :func:`infer_schema`.

    Attributes:
        schema: The unified, Iceberg-storable schema (hints applied).
        null_fraction: Per column, the share of sampled rows that are null (0.0-1.0; a column
            missing from a file counts as null for that file's rows).
        rows_sampled: Rows read from the sample.
        malformed_rows: Malformed rows found (and skipped) in the sample.
        bad_rows: The first malformed rows, as ``(path, BadRow)``, for preview.
    """

    schema: pa.Schema
    null_fraction: dict[str, float]
    rows_sampled: int
    malformed_rows: int
    bad_rows: list[tuple[str, BadRow]] = field(default_factory=list)


def parse_type(name: str, *, column: str, where: str = "format.schema.hints") -> pa.DataType:
    """Return the Arrow type for a type name such as ``long`` or ``decimal(10,2)``.

    Raises:
        ValidationFailed: The name is unknown or the decimal's precision/scale is out of range;
            the error names the column and the accepted names.
    """
    text = name.strip().lower() if isinstance(name, str) else ""
    if text in _TYPE_NAMES:
        return _TYPE_NAMES[text]
    match = _DECIMAL.match(text)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if 1 <= precision <= 38 and scale <= precision:
            return pa.decimal128(precision, scale)
        raise ValidationFailed(
            [
                FieldError(
                    f"{where}.{column}",
                    f"decimal({precision},{scale}) is out of range; use precision 1-38 and a scale up to the precision",
                )
            ]
        )
    raise ValidationFailed(
        [FieldError(f"{where}.{column}", f"unknown type {name!r} for column {column!r}; use one of {ACCEPTED_TYPES}")]
    )


def parse_hints(hints: dict[str, str]) -> dict[str, pa.DataType]:
    """Parse every hint, reporting all bad ones at once.

    Raises:
        ValidationFailed: One entry per column whose type name is not accepted.
    """
    parsed: dict[str, pa.DataType] = {}
    errors: list[FieldError] = []
    for column, name in hints.items():
        try:
            parsed[column] = parse_type(name, column=column)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return parsed


def schema_from_json(schema_json: Any) -> pa.Schema:
    """Build the schema a user supplied: a list of ``{"name", "type", "nullable"?}`` objects.

    Raises:
        ValidationFailed: The value has another shape, a name repeats, or a type is unknown.
    """
    where = "format.schema.schema_json"
    if not isinstance(schema_json, list) or not schema_json:
        raise ValidationFailed([FieldError(where, 'must be a non-empty list of {"name": ..., "type": ...} objects')])
    fields: list[pa.Field] = []
    seen: set[str] = set()
    errors: list[FieldError] = []
    for index, item in enumerate(schema_json):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            errors.append(FieldError(f"{where}[{index}]", 'must be an object with a "name" and a "type"'))
            continue
        name = item["name"]
        if name in seen:
            errors.append(FieldError(f"{where}[{index}]", f"column {name!r} appears twice"))
            continue
        try:
            arrow_type = parse_type(str(item.get("type", "")), column=name, where=where)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        seen.add(name)
        fields.append(pa.field(name, arrow_type, nullable=bool(item.get("nullable", True))))
    if errors:
        raise ValidationFailed(errors)
    return pa.schema(fields)


def infer_schema(
    paths: Sequence[str],
    fmt: FormatSpec,
    *,
    sample_files: int = DEFAULT_SAMPLE_FILES,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    hints: dict[str, str] | None = None,
    schema_json: Any = None,
    paths_for_errors: Sequence[str] | None = None,
) -> Inferred:
    """Infer one schema for ``paths`` from a sample: the first ``sample_files`` files, at most
    ``sample_bytes`` (decompressed) of each.

    The files' schemas are unified permissively (int and double give double, a column missing
    from a file is nullable, irreconcilable types give string), made Iceberg-storable, and then
    the ``hints`` pin some columns' types (a hinted column absent from the sample is added).
    A ``schema_json`` replaces inference: no file is read and ``rows_sampled`` is 0.
    ``hints`` and ``schema_json`` default to those of ``fmt.schema``.

    Args:
        paths: Local paths of the files, in the order to sample them.
        fmt: The format and its options.
        sample_files: How many files to read.
        sample_bytes: How many bytes to read of each file at most.
        hints: Column name -> type name.
        schema_json: A user schema (see the module docstring).
        paths_for_errors: Names for error messages, parallel to ``paths`` (default: ``paths``).

    Raises:
        ValidationFailed: A hint or ``schema_json`` is invalid.
        TerminalError: A sampled file cannot be read; the message names it.
    """
    hints = fmt.schema.hints if hints is None else hints
    schema_json = fmt.schema.schema_json if schema_json is None else schema_json
    if schema_json is not None:
        return Inferred(schema=schema_from_json(schema_json), null_fraction={}, rows_sampled=0, malformed_rows=0)
    pinned = parse_hints(hints)
    names = list(paths_for_errors or paths)
    tables: list[pa.Table] = []
    bad: list[tuple[str, BadRow]] = []
    for path, name in list(zip(paths, names, strict=True))[: max(0, sample_files)]:
        tables.append(_sample_file(path, name, fmt, sample_bytes, bad))
    schema = unify([table.schema for table in tables])
    schema = pa.schema([pa.field(f.name, iceberg_type(f.type), nullable=True) for f in schema])
    return Inferred(
        schema=apply_hints(schema, pinned),
        null_fraction=_null_fractions(tables, schema),
        rows_sampled=sum(table.num_rows for table in tables),
        malformed_rows=len(bad),
        bad_rows=bad[:100],
    )


def _sample_file(path: str, name: str, fmt: FormatSpec, sample_bytes: int, bad: list[tuple[str, BadRow]]) -> pa.Table:
    def on_bad_row(row: BadRow) -> None:
        bad.append((name, row))

    batches = list(iter_batches(path, fmt, path_for_errors=name, on_bad_row=on_bad_row, limit_bytes=sample_bytes))
    schema = unify([batch.schema for batch in batches])
    return pa.Table.from_batches([_conform(batch, schema) for batch in batches], schema=schema)


def unify(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """Unify schemas permissively, column by column; types that cannot be reconciled become string.

    Column order follows first appearance. ``null``-typed columns take the other files' type.
    """
    merged: dict[str, pa.DataType] = {}
    for schema in schemas:
        for column in schema:
            current = merged.get(column.name)
            merged[column.name] = column.type if current is None else _promote(current, column.type)
    return pa.schema([pa.field(name, arrow_type) for name, arrow_type in merged.items()])


def _promote(left: pa.DataType, right: pa.DataType) -> pa.DataType:
    if left.equals(right):
        return left
    try:
        unified = pa.unify_schemas(
            [pa.schema([pa.field("c", left)]), pa.schema([pa.field("c", right)])], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()
    return unified.field("c").type


def apply_hints(schema: pa.Schema, pinned: dict[str, pa.DataType]) -> pa.Schema:
    """Replace the types of hinted columns; hinted columns missing from ``schema`` are appended."""
    fields = [pa.field(f.name, pinned.get(f.name, f.type), nullable=f.nullable) for f in schema]
    fields += [pa.field(name, arrow_type) for name, arrow_type in pinned.items() if name not in schema.names]
    return pa.schema(fields)


def conform(
    batch: pa.RecordBatch, schema: pa.Schema, *, path_for_errors: str, keep_extra: bool = False
) -> pa.RecordBatch:
    """Give ``batch`` the columns and types of ``schema`` (an inferred, hinted or user schema).

    Columns missing from ``batch`` become nulls; the others are cast (values that cannot be shown
    as the column's string type become JSON text). Columns ``schema`` lacks are dropped unless
    ``keep_extra``, which appends them unchanged.

    Raises:
        TerminalError: A value does not fit its column's type; the message names the file and column.
    """
    try:
        conformed = _conform(batch, schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise TerminalError(f"{path_for_errors}: {_cast_failure(batch, schema)} ({exc})") from exc
    if not keep_extra:
        return conformed
    extra = [name for name in batch.schema.names if name not in schema.names]
    for name in extra:
        conformed = conformed.append_column(batch.schema.field(name), batch.column(name))
    return conformed


def _cast_failure(batch: pa.RecordBatch, schema: pa.Schema) -> str:
    for column in schema:
        if column.name in batch.schema.names:
            try:
                _conform(batch.select([column.name]), pa.schema([column]))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                found = batch.schema.field(column.name).type
                return (
                    f"column {column.name!r} holds {found} values that do not fit {column.type}; fix the hint or schema"
                )
    return "the values do not fit the schema"


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns: missing ones null, others cast (string for conflicts)."""
    arrays = []
    for column in schema:
        index = batch.schema.get_field_index(column.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, column.type))
            continue
        array = batch.column(index)
        if array.type.equals(column.type):
            arrays.append(array)
        elif pa.types.is_string(column.type) and not pa.types.is_null(array.type):
            arrays.append(_as_text(array))
        else:
            arrays.append(array.cast(column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _as_text(array: pa.Array) -> pa.Array:
    try:
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array(
            [None if value is None else json.dumps(value, default=str) for value in array.to_pylist()], pa.string()
        )


def _null_fractions(tables: list[pa.Table], schema: pa.Schema) -> dict[str, float]:
    total = sum(table.num_rows for table in tables)
    if total == 0:
        return dict.fromkeys(schema.names, 0.0)
    nulls = dict.fromkeys(schema.names, 0)
    for table in tables:
        for name in schema.names:
            if name in table.schema.names:
                nulls[name] += table.column(name).null_count
            else:
                nulls[name] += table.num_rows
    return {name: count / total for name, count in nulls.items()}
