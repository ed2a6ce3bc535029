"""Avro object container files to Arrow record batches, block by block (fastavro).

The Arrow schema comes from the file's Avro schema, so every batch has the same types and a
column whose sampled values are all null still gets its declared type. Unions other than
``["null", T]`` have no Arrow equivalent and become JSON strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import fastavro
import pyarrow as pa

_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}
_LOGICAL: dict[str, pa.DataType] = {
    "date": pa.date32(),
    "time-millis": pa.time64("us"),
    "time-micros": pa.time64("us"),
    "timestamp-millis": pa.timestamp("us", tz="UTC"),
    "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "local-timestamp-millis": pa.timestamp("us"),
    "local-timestamp-micros": pa.timestamp("us"),
    "uuid": pa.string(),
}


class _JsonUnion:
    """Marker: a multi-branch union stored as JSON text."""


def avro_batches(handle: BinaryIO, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield record batches of at most ``batch_rows`` rows from an Avro container file.

    Raises:
        ValueError: The file is not Avro or is corrupt (fastavro's own errors pass through).
    """
    reader = fastavro.reader(handle)
    schema, json_columns = arrow_schema(reader.writer_schema)
    rows: list[dict[str, Any]] = []
    yielded = False
    for record in reader:
        row = cast(dict[str, Any], record)
        rows.append(_jsonify(row, json_columns) if json_columns else row)
        if len(rows) >= batch_rows:
            yielded = True
            yield pa.RecordBatch.from_pylist(rows, schema=schema)
            rows = []
    if rows or not yielded:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def arrow_schema(avro_schema: Any) -> tuple[pa.Schema, set[str]]:
    """Return the Arrow schema of a top-level Avro record and its columns held as JSON text."""
    if not isinstance(avro_schema, dict) or avro_schema.get("type") != "record":
        raise ValueError("the Avro file's schema is not a record; only record files can be loaded")
    fields = []
    json_columns = set()
    for field in avro_schema["fields"]:
        arrow_type = _arrow_type(field["type"])
        if isinstance(arrow_type, _JsonUnion):
            json_columns.add(field["name"])
            arrow_type = pa.string()
        fields.append(pa.field(field["name"], arrow_type))
    return pa.schema(fields), json_columns


def _arrow_type(avro: Any) -> pa.DataType | _JsonUnion:
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        raise ValueError(f"Avro named type {avro!r} is not supported")
    if isinstance(avro, list):
        branches = [branch for branch in avro if branch != "null"]
        return _arrow_type(branches[0]) if len(branches) == 1 else _JsonUnion()
    return _complex_type(avro)


def _complex_type(avro: dict[str, Any]) -> pa.DataType | _JsonUnion:
    logical = avro.get("logicalType")
    if logical == "decimal":
        return pa.decimal128(int(avro["precision"]), int(avro.get("scale", 0)))
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    kind = avro["type"]
    build = _COMPLEX.get(kind) if isinstance(kind, str) else None
    return build(avro) if build is not None else _arrow_type(kind)


_COMPLEX: dict[str, Callable[[dict[str, Any]], pa.DataType]] = {
    "record": lambda avro: pa.struct([pa.field(f["name"], _plain(_arrow_type(f["type"]))) for f in avro["fields"]]),
    "array": lambda avro: pa.list_(_plain(_arrow_type(avro["items"]))),
    "map": lambda avro: pa.map_(pa.string(), _plain(_arrow_type(avro["values"]))),
    "enum": lambda _: pa.string(),
    "fixed": lambda _: pa.binary(),
}


def _plain(arrow_type: pa.DataType | _JsonUnion) -> pa.DataType:
    if isinstance(arrow_type, _JsonUnion):
        raise ValueError("Avro unions of several types are supported only as top-level fields")
    return arrow_type


def _jsonify(record: dict[str, Any], columns: set[str]) -> dict[str, Any]:
    out = dict(record)
    for name in columns:
        if out.get(name) is not None:
            out[name] = json.dumps(out[name], default=str)
    return out
