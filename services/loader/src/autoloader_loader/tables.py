"""Synchronous PyIceberg helpers of the embedded engine: schema evolution, alignment, lookups.

Everything here blocks (catalog round trips, file I/O): the engine calls it in a worker thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import ValidationError
from pyiceberg.expressions import BooleanExpression
from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import DataScan, Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.schema import UpdateSchema

from autoloader_contracts.events import BatchPlanned, FileResult
from autoloader_loader.domain import decode_file_rows, plan_schema
from autoloader_loader.engine import (
    SNAPSHOT_BATCH_ID,
    SNAPSHOT_BATCH_ROWS,
    SNAPSHOT_FILE_ROWS,
    BatchResult,
    SchemaConflictError,
)

NO_INTERNAL_RETRY = {"commit.retry.num-retries": "0"}
"""PyIceberg retries failed commits by re-applying the append; we must re-check the batch id first."""


class StagedTable:
    """The table as an open transaction sees it: writes and schema changes are staged, not committed.

    It offers the few :class:`Table` members the evolution and write helpers use, so a batch
    written in several groups evolves and appends inside one transaction (one catalog commit).
    """

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction

    @property
    def metadata(self) -> TableMetadata:
        """The table's metadata with the transaction's staged changes applied."""
        return self.transaction.table_metadata

    def schema(self) -> Schema:
        """The current (staged) schema."""
        return self.metadata.schema()

    def current_snapshot(self) -> Snapshot | None:
        """The current (staged) snapshot."""
        return self.metadata.current_snapshot()

    def update_schema(self) -> UpdateSchema:
        """Stage a schema change in the transaction."""
        return self.transaction.update_schema()

    def append(self, df: pa.Table, snapshot_properties: dict[str, str]) -> None:
        """Stage an append snapshot."""
        self.transaction.append(df, snapshot_properties=snapshot_properties)

    def data_files(self, df: pa.Table) -> Callable[[], list[DataFile]]:
        """A function writing ``df``'s data files for the table as staged now, staging nothing.

        What ``append`` does but in two halves, so the slow half (Parquet encoding) can run in
        another thread while the transaction goes on: the function only reads the metadata taken
        here. Stage its files with :meth:`add_data_files`. (PyIceberg's own two helpers, pinned in
        uv.lock; they are what ``Transaction.append`` calls.)
        """
        metadata, io = self.metadata, self.transaction._table.io
        _check_pyarrow_schema_compatible(
            metadata.schema(), provided_schema=df.schema, format_version=metadata.format_version
        )
        write_uuid = uuid.uuid4()

        def write() -> list[DataFile]:
            if df.num_rows == 0:
                return []
            return list(_dataframe_to_data_files(table_metadata=metadata, write_uuid=write_uuid, df=df, io=io))

        return write

    def add_data_files(self, files: list[DataFile], snapshot_properties: dict[str, str]) -> None:
        """Stage an append snapshot of data files written by :meth:`data_files`."""
        with self.transaction.update_snapshot(snapshot_properties=snapshot_properties).fast_append() as append:
            for data_file in files:
                append.append_data_file(data_file)

    def overwrite(
        self, df: pa.Table, *, overwrite_filter: BooleanExpression, snapshot_properties: dict[str, str]
    ) -> None:
        """Stage an overwrite (a delete and an append snapshot)."""
        self.transaction.overwrite(df, overwrite_filter=overwrite_filter, snapshot_properties=snapshot_properties)

    def scan(self, row_filter: BooleanExpression) -> DataScan:
        """Scan the rows the transaction sees (its staged snapshots included)."""
        # Transaction exposes no io of its own; its table's is the one the staged files use.
        return DataScan(table_metadata=self.metadata, io=self.transaction._table.io, row_filter=row_filter)


TableLike = Table | StagedTable
"""A committed table or one seen through an open transaction."""


def iceberg_schema_of(arrow_schema: pa.Schema) -> Schema:
    """The Iceberg schema PyIceberg would give ``arrow_schema`` (fresh field ids)."""
    return Catalog._convert_schema_if_needed(arrow_schema)


def all_optional(schema: pa.Schema) -> pa.Schema:
    """Make every top-level column nullable: later files may lack any column."""
    return pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)


def committed_batch(table: Table, planned: BatchPlanned, *, identifier: str) -> BatchResult | None:
    """The earlier result of ``planned`` when a snapshot of ``table`` already carries its batch id.

    The batch's newest snapshot holds its totals: ``autoloader.batch-rows`` when it was written in
    several groups (else its ``added-records``) and ``autoloader.file-rows``.
    """
    snapshot = find_batch_snapshot(table, planned.aggregate_id)
    if snapshot is None:
        return None
    summary = snapshot.summary
    total = (summary.get(SNAPSHOT_BATCH_ROWS) or summary.get("added-records")) if summary is not None else None
    rows = int(total or 0)
    encoded = summary.get(SNAPSHOT_FILE_ROWS) if summary is not None else None
    per_file = decode_file_rows(encoded, len(planned.files))
    counts = per_file or [0] * len(planned.files)
    files = [FileResult(path=f.path, rows=n, bytes=f.size) for f, n in zip(planned.files, counts, strict=True)]
    return BatchResult(
        files=files,
        rows=rows,
        bytes=sum(f.size for f in planned.files),
        snapshot_id=snapshot.snapshot_id,
        table=identifier,
        duration_seconds=0.0,
        already_committed=True,
        schema_id=snapshot.schema_id,
    )


def find_batch_snapshot(table: Table, batch_id: str) -> Snapshot | None:
    """The snapshot whose summary names ``batch_id`` (newest first), if any."""
    for snapshot in reversed(table.metadata.snapshots):
        if snapshot.summary is not None and snapshot.summary[SNAPSHOT_BATCH_ID] == batch_id:
            return snapshot
    return None


def evolve_schema(table: TableLike, data_schema: pa.Schema) -> TableLike:
    """Add the data's new columns and widen columns where Iceberg allows.

    Raises:
        SchemaConflictError: A column's type cannot change to the data's (names the column).
    """
    data_iceberg = iceberg_schema_of(data_schema)
    table_types = {f.name: str(f.field_type) for f in table.schema().fields}
    data_types = {f.name: str(f.field_type) for f in data_iceberg.fields}
    plan = plan_schema(table_types, data_types)
    if plan.errors:
        raise SchemaConflictError("; ".join(plan.errors))
    if not plan.changes_table:
        return table
    merged = [data_schema.field(name).with_nullable(True) for name in [*plan.new_columns, *plan.nested]]
    try:
        with table.update_schema() as update:
            if merged:
                update.union_by_name(pa.schema(merged))
            for name in plan.promotions:
                update.update_column(name, field_type=data_iceberg.find_field(name).field_type)
    except (ValidationError, ValueError) as exc:
        names = ", ".join([*plan.new_columns, *plan.nested, *plan.promotions])
        raise SchemaConflictError(f"the table's schema cannot take columns {names}: {exc}") from exc
    return table


def align_to_table(data: pa.Table, table: TableLike) -> pa.Table:
    """Cast ``data`` to the table's schema, in its column order; columns the data lacks are null.

    Raises:
        SchemaConflictError: Values of a column cannot be converted to the table's type.
    """
    return align_to_schema(data, table.schema())


def align_to_schema(data: pa.Table, schema: Schema) -> pa.Table:
    """Cast ``data`` to ``schema``, in its column order; columns the data lacks are null.

    Raises:
        SchemaConflictError: Values of a column cannot be converted to the schema's type.
    """
    target = schema.as_arrow()
    columns = []
    for field in target:
        if field.name not in data.column_names:
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        column = data.column(field.name)
        columns.append(column if column.type.equals(field.type) else _cast(column, field))
    return pa.Table.from_arrays(columns, schema=target)


def _cast(column: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    try:
        return pc.cast(column, options=pc.CastOptions(target_type=field.type, allow_time_truncate=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise SchemaConflictError(
            f"column {field.name!r}: values of type {column.type} do not convert to the table's {field.type} "
            f"({exc}); fix the files or load them into a new table"
        ) from exc


def describe_table(table: Table, *, identifier: str) -> dict[str, Any]:
    """The ``table_info`` answer: identifier, location, format version, schema, rows, snapshots."""
    current = table.current_snapshot()
    total = current.summary["total-records"] if current is not None and current.summary else None
    return {
        "identifier": identifier,
        "location": table.location(),
        "format_version": table.metadata.format_version,
        "schema_id": table.schema().schema_id,
        "schema": [
            {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
            for f in table.schema().fields
        ],
        "row_count": int(total or 0),
        "current_snapshot_id": current.snapshot_id if current is not None else None,
        "snapshots": [_describe_snapshot(s) for s in table.metadata.snapshots],
    }


def _describe_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    summary = snapshot.summary
    return {
        "snapshot_id": snapshot.snapshot_id,
        "parent_id": snapshot.parent_snapshot_id,
        "timestamp": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(),
        "operation": summary.operation.value if summary is not None else None,
        "summary": dict(summary.model_dump()) if summary is not None else {},
    }


def jsonable(value: Any) -> Any:
    """Convert a value from ``Table.to_pylist`` to plain JSON (RFC 3339 datetimes, str decimals)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
