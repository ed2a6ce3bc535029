"""Pure schema comparison: what differs between a table's Arrow schema and incoming data's.

Types are compared after canonicalisation (``large_string`` equals ``string``, ``large_list``
equals ``list``): Iceberg stores both the same way. Widening follows Iceberg's promotions:
a signed integer to a wider one, a float to a wider one, a decimal to a higher precision with
the same scale. A cast to a string column is not widening: the loader may cast data values to
text, but never changes a table column to string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

_INT_WIDTHS = {pa.int8(): 8, pa.int16(): 16, pa.int32(): 32, pa.int64(): 64}
_PLAIN = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
_UTC_NAMES = frozenset({"UTC", "+00:00", "Z", "Etc/UTC"})
_FLOAT_WIDTHS = {pa.float16(): 16, pa.float32(): 32, pa.float64(): 64}


@dataclass(frozen=True)
class SchemaDiff:
    """The difference from a table's schema to an incoming schema.

    Attributes:
        added: ``(name, type)`` of incoming columns the table lacks, in incoming order.
        removed: Names of table columns the incoming data lacks, in table order.
        changed: ``(name, table type, incoming type)`` of columns whose types differ.
    """

    added: list[tuple[str, pa.DataType]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[tuple[str, pa.DataType, pa.DataType]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the schemas agree (same names, same canonical types)."""
        return not (self.added or self.removed or self.changed)


def canonical(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` as Iceberg stores it: plain (not large) variants, UTC as "UTC", nullable children."""
    if arrow_type in _PLAIN:
        return _PLAIN[arrow_type]
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz in _UTC_NAMES:
        return pa.timestamp(arrow_type.unit, tz="UTC")
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return pa.list_(canonical(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        children = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        return pa.struct([pa.field(f.name, canonical(f.type)) for f in children])
    if pa.types.is_map(arrow_type):
        return pa.map_(canonical(arrow_type.key_type), canonical(arrow_type.item_type))
    return arrow_type


def same_type(left: pa.DataType, right: pa.DataType) -> bool:
    """True when both types store the same way (ignoring large variants and field metadata)."""
    return bool(canonical(left).equals(canonical(right)))


def diff(table_schema: pa.Schema, incoming: pa.Schema) -> SchemaDiff:
    """Compare ``incoming`` (the data) with ``table_schema`` (the table) by column name."""
    table_types = {f.name: f.type for f in table_schema}
    incoming_names = set(incoming.names)
    result = SchemaDiff(removed=[name for name in table_schema.names if name not in incoming_names])
    for column in incoming:
        old = table_types.get(column.name)
        if old is None:
            result.added.append((column.name, column.type))
        elif not same_type(old, column.type):
            result.changed.append((column.name, old, column.type))
    return result


def can_widen(old: pa.DataType, new: pa.DataType) -> bool:
    """True when Iceberg may promote a column of type ``old`` to ``new`` (never for equal types)."""
    if old in _INT_WIDTHS and new in _INT_WIDTHS:
        return _INT_WIDTHS[old] < _INT_WIDTHS[new]
    if old in _FLOAT_WIDTHS and new in _FLOAT_WIDTHS:
        return _FLOAT_WIDTHS[old] < _FLOAT_WIDTHS[new]
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return bool(old.scale == new.scale and old.precision < new.precision and old.bit_width <= new.bit_width)
    return False


def fits(column: pa.DataType, value: pa.DataType) -> bool:
    """True when values of type ``value`` go into a ``column`` column unchanged or cast up losslessly.

    A string column takes any primitive (its text); that is a data cast, not a schema change.
    """
    if same_type(column, value) or can_widen(value, column):
        return True
    return (pa.types.is_string(column) or pa.types.is_large_string(column)) and _is_primitive(value)


def apply_widening(table_schema: pa.Schema, schema_diff: SchemaDiff) -> pa.Schema:
    """The table schema after adding ``schema_diff``'s new columns and its widenable type changes.

    Columns never disappear (``removed`` is ignored); a change Iceberg cannot make keeps the old type.
    """
    widened = {name: new for name, old, new in schema_diff.changed if can_widen(old, new)}
    fields = [f.with_type(widened[f.name]) if f.name in widened else f for f in table_schema]
    fields += [pa.field(name, arrow_type, nullable=True) for name, arrow_type in schema_diff.added]
    return pa.schema(fields)


def _is_primitive(arrow_type: pa.DataType) -> bool:
    return not pa.types.is_nested(arrow_type)
