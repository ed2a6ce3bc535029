"""Schema diff and widening rules: example tests plus properties checked with hypothesis."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoloader_formats.schema_diff import apply_widening, can_widen, diff, fits

pytestmark = pytest.mark.unit

PRIMITIVES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.float32(),
    pa.float64(),
    pa.string(),
    pa.bool_(),
    pa.date32(),
    pa.timestamp("us"),
    pa.decimal128(10, 2),
    pa.decimal128(12, 2),
    pa.decimal128(12, 3),
]
types = st.sampled_from(PRIMITIVES)
names = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
schemas = st.dictionaries(names, types, max_size=6).map(lambda cols: pa.schema(list(cols.items())))


def widened(arrow_type: pa.DataType) -> list[pa.DataType]:
    return [t for t in PRIMITIVES if can_widen(arrow_type, t)]


@st.composite
def evolved(draw: st.DrawFn) -> tuple[pa.Schema, pa.Schema]:
    """A table schema and incoming data that only adds columns and widens types."""
    table = draw(schemas)
    fields = []
    for f in table:
        options = [f.type, *widened(f.type)]
        fields.append(pa.field(f.name, draw(st.sampled_from(options))))
    extra = draw(st.dictionaries(st.text(alphabet="xyz", min_size=1, max_size=3), types, max_size=3))
    return table, pa.schema([*fields, *extra.items()])


def test_diff_names_added_removed_and_changed_columns() -> None:
    table = pa.schema([("id", pa.int32()), ("name", pa.string()), ("gone", pa.bool_())])
    incoming = pa.schema([("id", pa.int64()), ("name", pa.large_string()), ("city", pa.string())])

    result = diff(table, incoming)

    assert result.added == [("city", pa.string())]
    assert result.removed == ["gone"]
    assert result.changed == [("id", pa.int32(), pa.int64())]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (pa.int32(), pa.int64(), True),
        (pa.float32(), pa.float64(), True),
        (pa.decimal128(10, 2), pa.decimal128(12, 2), True),
        (pa.decimal128(10, 2), pa.decimal128(12, 3), False),
        (pa.int64(), pa.int32(), False),
        (pa.int64(), pa.float64(), False),
        (pa.int64(), pa.string(), False),
        (pa.int64(), pa.int64(), False),
    ],
)
def test_can_widen_follows_iceberg_promotions(old: pa.DataType, new: pa.DataType, expected: bool) -> None:
    assert can_widen(old, new) is expected


def test_string_column_fits_any_primitive_without_widening() -> None:
    assert fits(pa.string(), pa.int64()) is True
    assert can_widen(pa.int64(), pa.string()) is False
    assert fits(pa.int32(), pa.string()) is False


@given(schemas)
def test_diff_of_a_schema_with_itself_is_empty(schema: pa.Schema) -> None:
    assert diff(schema, schema).is_empty


@given(schemas, schemas)
def test_added_and_removed_swap_when_the_arguments_swap(a: pa.Schema, b: pa.Schema) -> None:
    forward, backward = diff(a, b), diff(b, a)

    assert [name for name, _ in forward.added] == backward.removed
    assert forward.removed == [name for name, _ in backward.added]
    assert {n: (new, old) for n, old, new in forward.changed} == {n: (old, new) for n, old, new in backward.changed}


@given(types, types)
def test_widening_is_irreflexive_and_antisymmetric(a: pa.DataType, b: pa.DataType) -> None:
    assert not can_widen(a, a)
    assert not (can_widen(a, b) and can_widen(b, a))


@given(types, types, types)
def test_widening_is_transitive(a: pa.DataType, b: pa.DataType, c: pa.DataType) -> None:
    if can_widen(a, b) and can_widen(b, c):
        assert can_widen(a, c)


@given(evolved())
def test_applying_a_diffs_widening_leaves_no_added_or_changed_columns(pair: tuple[pa.Schema, pa.Schema]) -> None:
    table, incoming = pair

    result = diff(apply_widening(table, diff(table, incoming)), incoming)

    assert result.added == []
    assert result.changed == []
    assert result.removed == diff(table, incoming).removed


@given(schemas, schemas)
def test_applying_widening_never_drops_a_table_column(table: pa.Schema, incoming: pa.Schema) -> None:
    evolved_schema = apply_widening(table, diff(table, incoming))

    assert evolved_schema.names[: len(table.names)] == table.names
