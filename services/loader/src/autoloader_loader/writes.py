"""How a batch's rows go into its table: partition specs and the append / overwrite / merge modes.

Every write is one PyIceberg table transaction (one catalog commit) whose snapshots all carry the
batch's snapshot properties, so a redelivered batch is found by its batch id whatever the mode.

- ``append`` adds the rows.
- ``overwrite`` replaces the table's rows with the run's: the first batch of the run to commit
  (no snapshot of the table carries the run's id yet) deletes every row and appends; later
  batches of the run append. Deciding on what the table holds, not on ``batch_number``, keeps
  this right when batches commit out of order or the run's first batch fails.
- ``merge`` upserts on ``destination.merge_keys``: within a batch the last row of a key wins
  (rows are in file order, so the last file wins); rows of the table with a key of the batch are
  deleted and the batch's rows appended. Rows whose key has a null are only inserted.

Blocking (catalog round trips, file I/O): call it in a worker thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, In
from pyiceberg.partitioning import PartitionField as IcebergPartitionField
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.upsert_util import create_match_filter
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)

from autoloader_contracts.events import BatchPlanned
from autoloader_contracts.partitioning import PartitionField, PartitionSyntaxError, parse_partition
from autoloader_loader.engine import SNAPSHOT_RUN_ID, LoadError, SchemaConflictError
from autoloader_loader.tables import TableLike

FIRST_PARTITION_FIELD_ID = 1000
_ROW = "__autoloader_row"
_NO_MATCH_WARNING = "Delete operation did not match any records"


# --- partitioning ----------------------------------------------------------------------------


def requested_partitioning(planned: BatchPlanned) -> list[PartitionField]:
    """The partition fields the destination asks for (empty when partitioning is off).

    Raises:
        LoadError: An entry is not a column name or a known transform.
    """
    partitioning = planned.destination.partitioning
    if not partitioning.enabled:
        return []
    try:
        return [parse_partition(entry) for entry in partitioning.columns]
    except PartitionSyntaxError as exc:
        raise LoadError(f"destination.partitioning: {exc}") from exc


def partition_spec(schema: Schema, fields: Sequence[PartitionField]) -> PartitionSpec:
    """Build the spec of ``fields`` on ``schema``, checking each column exists and fits its transform.

    Raises:
        SchemaConflictError: A column is missing from the data or its type cannot take the transform.
    """
    columns = [f.column for f in fields]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise SchemaConflictError(
            f"destination.partitioning uses columns {repeated} more than once; partition each column by one "
            "transform (Iceberg refuses redundant partitions)"
        )
    built = []
    for offset, field in enumerate(fields):
        transform = _transform(field)
        try:
            column = schema.find_field(field.column)
        except ValueError as exc:
            raise SchemaConflictError(
                f"partition column {field.column!r} ({field.describe()}) is not in the data; "
                f"the data has {', '.join(schema.column_names)}: fix destination.partitioning"
            ) from exc
        if not transform.can_transform(column.field_type):
            raise SchemaConflictError(
                f"partition {field.describe()}: column {field.column!r} is {column.field_type}, which "
                f"{field.transform} cannot partition; use a compatible column or transform"
            )
        built.append(
            IcebergPartitionField(
                source_id=column.field_id,
                field_id=FIRST_PARTITION_FIELD_ID + offset,
                transform=transform,
                name=field.name,
            )
        )
    return PartitionSpec(*built)


def check_partitioning(table: Table, fields: Sequence[PartitionField], *, identifier: str) -> None:
    """Refuse to write into an existing table whose partition spec is not the requested one.

    Nothing is checked when the destination asks for no partitioning.

    Raises:
        SchemaConflictError: The table is partitioned differently (both specs named).
    """
    if not fields:
        return
    schema = table.schema()
    existing = [
        (schema.find_column_name(f.source_id), str(f.transform))
        for f in table.spec().fields
        if str(f.transform) != "void"
    ]
    wanted = [(f.column, str(_transform(f))) for f in fields]
    if existing != wanted:
        raise SchemaConflictError(
            f"table {identifier} is partitioned by {_describe(existing)} but destination.partitioning asks "
            f"for {_describe(wanted)}; partitioning applies only when a table is created: match the "
            "table's partitioning or load into a new table"
        )


def _transform(field: PartitionField) -> Transform:
    simple: Mapping[str, Transform] = {
        "identity": IdentityTransform(),
        "year": YearTransform(),
        "month": MonthTransform(),
        "day": DayTransform(),
        "hour": HourTransform(),
    }
    if field.transform in simple:
        return simple[field.transform]
    if field.transform == "bucket" and field.width is not None:
        return BucketTransform(num_buckets=field.width)
    if field.transform == "truncate" and field.width is not None:
        return TruncateTransform(width=field.width)
    raise LoadError(f"unknown partition transform {field.describe()!r}")


def _describe(fields: Sequence[tuple[str | None, str]]) -> str:
    if not fields:
        return "nothing (unpartitioned)"
    return ", ".join(
        f"{column}" if transform == "identity" else f"{transform}({column})" for column, transform in fields
    )


# --- write modes -----------------------------------------------------------------------------


def check_write_mode(planned: BatchPlanned, data: pa.Table) -> None:
    """Check the destination's write mode against the batch's columns before anything is written.

    Raises:
        LoadError: Unknown write mode, or merge without keys.
        SchemaConflictError: A merge key is not a column of the data.
    """
    destination = planned.destination
    if destination.write_mode not in ("append", "overwrite", "merge"):
        raise LoadError(f"unknown write_mode {destination.write_mode!r}; use append, overwrite or merge")
    if destination.write_mode != "merge":
        return
    if not destination.merge_keys:
        raise LoadError("write_mode 'merge' needs destination.merge_keys; set the key columns")
    missing = [key for key in destination.merge_keys if key not in data.column_names]
    if missing:
        raise SchemaConflictError(
            f"merge keys {missing} are not columns of the data (it has {', '.join(data.column_names)}); "
            "fix destination.merge_keys"
        )


def write(table: TableLike, data: pa.Table, planned: BatchPlanned, properties: dict[str, str]) -> None:
    """Write ``data`` (already aligned to the table) in the destination's mode, in one commit.

    Raises:
        CommitFailedException: Another writer committed first (the caller re-checks and retries).
    """
    mode = planned.destination.write_mode
    if mode == "overwrite" and replaces_table(table, planned.run_id):
        _overwrite(table, data, AlwaysTrue(), properties)
    elif mode == "merge" and table.current_snapshot() is not None:
        _merge(
            table, last_row_per_key(data, planned.destination.merge_keys), planned.destination.merge_keys, properties
        )
    elif mode == "merge":
        table.append(last_row_per_key(data, planned.destination.merge_keys), snapshot_properties=properties)
    else:
        table.append(data, snapshot_properties=properties)


def appends(table: TableLike, planned: BatchPlanned) -> bool:
    """True when :func:`write` would stage a plain append (so the data files may be written apart)."""
    mode = planned.destination.write_mode
    return mode == "append" or (mode == "overwrite" and not replaces_table(table, planned.run_id))


def last_row_per_key(data: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keep the last row of each key, in the data's order; rows with a null key are all kept."""
    valid = _keys_valid(data, keys)
    numbered = data.append_column(_ROW, pa.array(range(data.num_rows), type=pa.int64()))
    keyed = numbered.filter(valid)
    last = keyed.group_by(list(keys), use_threads=False).aggregate([(_ROW, "max")])
    kept = pc.is_in(numbered.column(_ROW), value_set=last.column(f"{_ROW}_max"))
    return numbered.filter(pc.or_(kept, pc.invert(valid))).drop_columns([_ROW])


def _keys_valid(data: pa.Table, keys: Sequence[str]) -> pa.ChunkedArray | pa.Array:
    valid: pa.ChunkedArray | pa.Array = pa.array([True] * data.num_rows, type=pa.bool_())
    for key in keys:
        valid = pc.and_(valid, pc.is_valid(data.column(key)))
    return valid


def _merge(table: TableLike, rows: pa.Table, keys: Sequence[str], properties: dict[str, str]) -> None:
    """Replace the table's rows whose key the batch has, and add the batch's rows, in one overwrite."""
    if len(keys) == 1:
        _overwrite(table, rows, _match_filter(rows, keys), properties)
        return
    # An exact filter for composite keys is one OR of ANDs per row, which PyIceberg evaluates very
    # slowly; a per-column IN filter is a superset: the rows it catches that the batch does not
    # replace are written back in the same overwrite.
    keyed = rows.filter(_keys_valid(rows, keys))
    if keyed.num_rows == 0:
        table.append(rows, snapshot_properties=properties)
        return
    coarse = And(*(_is_in(key, pc.unique(keyed.column(key)).to_pylist()) for key in keys))
    caught = table.scan(row_filter=coarse).to_arrow()
    kept = caught.join(keyed.select(list(keys)), keys=list(keys), join_type="left anti")
    combined = pa.concat_tables([kept.select(rows.column_names).cast(rows.schema), rows])
    _overwrite(table, combined, coarse, properties)


def _is_in(column: str, values: list[Any]) -> BooleanExpression:
    # In's constructor is ``In(term, literals)`` at run time (its __new__); the pydantic model
    # signature mypy reads from says otherwise.
    return In(column, values)  # type: ignore[call-arg, arg-type]


def _match_filter(rows: pa.Table, keys: Sequence[str]) -> BooleanExpression:
    keyed = rows.select(list(keys)).filter(_keys_valid(rows, keys))
    return create_match_filter(keyed, list(keys))


def replaces_table(table: TableLike, run_id: str) -> bool:
    """True for the run's first commit into a table that has rows to replace."""
    if table.current_snapshot() is None:
        return False
    return not any(s.summary is not None and s.summary.get(SNAPSHOT_RUN_ID) == run_id for s in table.metadata.snapshots)


def _overwrite(table: TableLike, data: pa.Table, condition: BooleanExpression, properties: dict[str, str]) -> None:
    with quiet_empty_delete():
        table.overwrite(data, overwrite_filter=condition, snapshot_properties=properties)


@contextmanager
def quiet_empty_delete() -> Iterator[None]:
    """PyIceberg warns when an overwrite's delete matches nothing: expected for new keys."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NO_MATCH_WARNING)
        yield
