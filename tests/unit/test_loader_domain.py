"""Pure loader rules: schema evolution planning, names, URLs, per-file row counts."""

from __future__ import annotations

import pytest

from autoloader_loader.domain import (
    catalog_name,
    decode_file_rows,
    encode_file_rows,
    plan_schema,
    sqlalchemy_url,
    warehouse_location,
)

pytestmark = pytest.mark.unit


def test_same_columns_need_no_change() -> None:
    plan = plan_schema({"id": "long", "name": "string"}, {"id": "long", "name": "string"})
    assert not plan.changes_table
    assert plan.errors == []


def test_new_columns_are_added_and_widening_is_planned() -> None:
    plan = plan_schema(
        {"id": "int", "score": "float", "amount": "decimal(10, 2)"},
        {"id": "long", "score": "double", "amount": "decimal(12, 2)", "city": "string"},
    )
    assert plan.new_columns == ["city"]
    assert plan.promotions == {"id": "long", "score": "double", "amount": "decimal(12, 2)"}
    assert plan.errors == []


@pytest.mark.parametrize(
    ("table_type", "data_type"),
    [("long", "int"), ("double", "float"), ("double", "long"), ("string", "long"), ("string", "timestamp"),
     ("timestamptz", "timestamp"), ("decimal(12, 2)", "decimal(10, 2)")],
)
def test_narrower_data_is_cast_up_without_touching_the_table(table_type: str, data_type: str) -> None:
    plan = plan_schema({"c": table_type}, {"c": data_type})
    assert not plan.changes_table
    assert plan.errors == []


@pytest.mark.parametrize(
    ("table_type", "data_type"),
    [("long", "string"), ("long", "double"), ("boolean", "long"), ("decimal(10, 2)", "decimal(10, 3)")],
)
def test_incompatible_types_are_errors_naming_the_column(table_type: str, data_type: str) -> None:
    plan = plan_schema({"amount": table_type}, {"amount": data_type})
    [error] = plan.errors
    assert error.startswith(f"column 'amount' is {table_type} in the table but {data_type} in the files")


def test_nested_differences_are_left_to_the_catalog_merge() -> None:
    plan = plan_schema({"meta": "struct<1: k: optional string>"},
                       {"meta": "struct<1: k: optional string, 2: v: optional long>"})
    assert plan.nested == ["meta"]
    assert plan.errors == []


def test_file_rows_round_trip_and_reject_mismatches() -> None:
    assert decode_file_rows(encode_file_rows([3, 0, 1000]), 3) == [3, 0, 1000]
    assert decode_file_rows(encode_file_rows([3, 0]), 3) is None
    assert decode_file_rows(None, 1) is None
    assert decode_file_rows("x,y", 2) is None


def test_catalog_urls_and_locations() -> None:
    assert sqlalchemy_url("postgresql://u@h:5/db") == "postgresql+psycopg2://u@h:5/db"
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    with pytest.raises(ValueError, match="must be a postgresql:// URL"):
        sqlalchemy_url("mysql://h/db")
    assert catalog_name("tnt_a", "lake") == "tnt_a__lake"
    assert warehouse_location("file:///w/", "tnt_a", "lake") == "file:///w/tnt_a/lake"
    with pytest.raises(ValueError, match="not a valid tenant or catalog name"):
        warehouse_location("file:///w", "..", "lake")
    with pytest.raises(ValueError, match="not a valid tenant or catalog name"):
        warehouse_location("file:///w", "tnt_a", "a/b")
