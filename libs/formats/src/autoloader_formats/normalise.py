"""Make an Arrow table's types ones Iceberg (format v2) can store.

Iceberg has no unsigned integers, no nanosecond timestamps (before v3), no null type, no
dictionary encoding, no half floats and no 32-bit times; files readers infer all of these.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pyarrow as pa

_Rule = tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], pa.DataType]]

_SCALAR_RULES: tuple[_Rule, ...] = (
    (pa.types.is_null, lambda _: pa.string()),
    # uint64 values above 2**63-1 fail the cast loudly rather than wrapping silently.
    (pa.types.is_unsigned_integer, lambda _: pa.int64()),
    (pa.types.is_float16, lambda _: pa.float32()),
    (pa.types.is_timestamp, lambda t: pa.timestamp("us", tz="UTC" if t.tz is not None else None)),
    (pa.types.is_time, lambda _: pa.time64("us")),
    (pa.types.is_date64, lambda _: pa.date32()),
)


def iceberg_type(arrow_type: pa.DataType) -> pa.DataType:
    """Return the Iceberg-storable Arrow type for ``arrow_type`` (recursing into nested types)."""
    if pa.types.is_dictionary(arrow_type):
        return iceberg_type(arrow_type.value_type)
    for matches, convert in _SCALAR_RULES:
        if matches(arrow_type):
            return convert(arrow_type)
    return _nested_type(arrow_type)


def _nested_type(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return pa.list_(_field(arrow_type.value_field))
    if pa.types.is_struct(arrow_type):
        return pa.struct([_field(arrow_type.field(i)) for i in range(arrow_type.num_fields)])
    if pa.types.is_map(arrow_type):
        return pa.map_(iceberg_type(arrow_type.key_type), _field(arrow_type.item_field))
    return arrow_type


def _field(field: pa.Field) -> pa.Field:
    return pa.field(field.name, iceberg_type(field.type), nullable=field.nullable)


def normalise_for_iceberg(table: pa.Table) -> pa.Table:
    """Cast ``table`` to Iceberg-storable types.

    Timestamps become microseconds (timezone-aware ones in UTC; sub-microsecond digits are
    truncated), unsigned integers int64, the null type string, dictionaries their values.
    Columns that already fit are left untouched (no copy).

    Raises:
        pyarrow.ArrowInvalid: A value does not fit its new type (a uint64 above the int64 range).
    """
    target = _target_schema(table.schema)
    if table.schema.metadata:
        target = target.with_metadata(table.schema.metadata)
    if target.equals(table.schema):
        return table
    columns = []
    for column, field in zip(table.columns, target, strict=True):
        if column.type.equals(field.type):
            columns.append(column)
        else:
            # safe=False only lets timestamps lose sub-microsecond digits; integer overflow is
            # checked explicitly first.
            _check_unsigned_fits(column, field)
            columns.append(column.cast(field.type, safe=False))
    return pa.Table.from_arrays(columns, schema=target)


@lru_cache(maxsize=512)
def _target_schema(schema: pa.Schema) -> pa.Schema:
    # Cached: a batch of many small files asks for the same schema once per file. Schemas that
    # differ only in metadata compare equal, so the cached one carries none; the caller adds its own.
    return pa.schema([_field(field) for field in schema])


def _check_unsigned_fits(column: pa.ChunkedArray, field: pa.Field) -> None:
    if pa.types.is_uint64(column.type) and len(column) > 0:
        import pyarrow.compute as pc

        largest = pc.max(column).as_py()
        if largest is not None and largest > 2**63 - 1:
            raise pa.ArrowInvalid(f"column {field.name!r} holds {largest}, above the largest Iceberg long")
