"""Pure rules of the loader: how a table's schema may change to take new files.

Types are Iceberg type strings (``int``, ``long``, ``decimal(10, 2)``, ``struct<...>``) so this
module needs no framework. Iceberg allows widening int->long, float->double and raising a
decimal's precision; a file column narrower than the table's is cast up when the rows are written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_PROMOTIONS = {("int", "long"), ("float", "double")}
"""(table type, data type): Iceberg may widen the table column to the data's type."""

_CASTS_UP = {
    ("long", "int"),
    ("double", "float"),
    ("double", "int"),
    ("double", "long"),
    ("timestamptz", "timestamp"),
    ("timestamp", "date"),
    ("timestamptz", "date"),
}
"""(table type, data type): the data's values are cast to the table column's type."""

_PRIMITIVE = re.compile(r"^[a-z]+(\(\d+,\s*\d+\)|\[\d+\])?$")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class SchemaPlan:
    """What to change in the table before appending data of another shape.

    Attributes:
        new_columns: Columns of the data the table lacks (added as optional columns).
        promotions: Table columns to widen, with their new type.
        nested: Nested columns whose shape differs (merged field by field by the catalog).
        errors: One message per column that cannot fit; non-empty means the batch must fail.
    """

    new_columns: list[str] = field(default_factory=list)
    promotions: dict[str, str] = field(default_factory=dict)
    nested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changes_table(self) -> bool:
        """True when the table's schema must be updated first."""
        return bool(self.new_columns or self.promotions or self.nested)


def plan_schema(table: Mapping[str, str], data: Mapping[str, str]) -> SchemaPlan:
    """Compare the table's columns with the data's and decide how the table must change.

    Args:
        table: Column name -> Iceberg type of the table.
        data: Column name -> Iceberg type of the data to append.
    """
    plan = SchemaPlan()
    for name, data_type in data.items():
        table_type = table.get(name)
        if table_type is None:
            plan.new_columns.append(name)
        elif table_type != data_type:
            _classify(plan, name, table_type, data_type)
    return plan


def _classify(plan: SchemaPlan, name: str, table_type: str, data_type: str) -> None:
    if (table_type, data_type) in _PROMOTIONS or _decimal_widens(table_type, data_type):
        plan.promotions[name] = data_type
    elif _fits(table_type, data_type):
        return
    elif not (_PRIMITIVE.match(table_type) and _PRIMITIVE.match(data_type)):
        plan.nested.append(name)
    else:
        plan.errors.append(
            f"column {name!r} is {table_type} in the table but {data_type} in the files; Iceberg cannot "
            f"change {table_type} to {data_type}: fix the files, or load them into a new table"
        )


def _fits(table_type: str, data_type: str) -> bool:
    if (table_type, data_type) in _CASTS_UP:
        return True
    # Text columns take any scalar (a column of ids that was inferred as text keeps taking numbers).
    if table_type == "string" and _PRIMITIVE.match(data_type):
        return True
    table_decimal, data_decimal = _DECIMAL.match(table_type), _DECIMAL.match(data_type)
    if table_decimal and data_decimal:
        return table_decimal.group(2) == data_decimal.group(2) and int(data_decimal.group(1)) <= int(
            table_decimal.group(1)
        )
    return False


def _decimal_widens(table_type: str, data_type: str) -> bool:
    table_decimal, data_decimal = _DECIMAL.match(table_type), _DECIMAL.match(data_type)
    if not (table_decimal and data_decimal):
        return False
    same_scale = table_decimal.group(2) == data_decimal.group(2)
    return same_scale and int(data_decimal.group(1)) > int(table_decimal.group(1))


def encode_file_rows(rows: list[int]) -> str:
    """Render per-file row counts for a snapshot property (compact: ``"12,1000,0"``)."""
    return ",".join(str(count) for count in rows)


def decode_file_rows(text: str | None, count: int) -> list[int] | None:
    """Parse :func:`encode_file_rows` output; ``None`` when absent or not for ``count`` files."""
    if not text:
        return None
    try:
        rows = [int(part) for part in text.split(",")]
    except ValueError:
        return None
    return rows if len(rows) == count else None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def sqlalchemy_url(database_url: str) -> str:
    """Turn ``postgresql://...`` (asyncpg style) into the psycopg2 URL SQLAlchemy needs."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+psycopg2"}:
        raise ValueError(f"AUTOLOADER_DATABASE_URL must be a postgresql:// URL, not {database_url!r}")
    return f"postgresql+psycopg2://{rest}"


def catalog_name(tenant_id: str, catalog: str) -> str:
    """Name of a tenant's catalog in the shared SQL catalog tables (tenants never share one)."""
    return f"{tenant_id}__{catalog}"


def warehouse_location(warehouse_uri: str, tenant_id: str, catalog: str) -> str:
    """Folder of a tenant's catalog: tenants never share files.

    Raises:
        ValueError: The tenant or catalog name could escape the warehouse (``/``, ``..``).
    """
    for value in (tenant_id, catalog):
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid tenant or catalog name (letters, digits, _ and - only)")
    return f"{warehouse_uri.rstrip('/')}/{tenant_id}/{catalog}"
