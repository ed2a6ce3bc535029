"""Schema evolution modes: how a batch whose columns differ from the table's is written.

- ``add_new_columns``: add the new columns, widen what Iceberg allows; any other type change fails.
- ``rescue``: keep the table's schema; new fields and values that do not fit their column go into a
  ``_rescued_data`` text column as one JSON object per row (null when nothing was rescued).
- ``ignore``: drop the new fields.
- ``fail``: any new column or type change fails the batch (``schema_change``) with the diff, unless
  a resolved schema version accepted exactly that change (``BatchPlanned.accepted_columns``); then
  the batch loads and reports no change (the resolved version is the record of it).

Removed columns never drop table columns: their values are null for the new rows. Columns a
resolution chose to ignore (``BatchPlanned.ignored_columns``) are dropped in every mode.
Everything here blocks (catalog round trips): the engine calls it in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from autoloader_contracts.events import BatchPlanned, ColumnChange, SchemaChange, SchemaResolution
from autoloader_formats.schema_diff import SchemaDiff, canonical, diff, fits
from autoloader_loader import tables
from autoloader_loader.engine import DetectedChange, SchemaChangeError

RESCUED_COLUMN = "_rescued_data"
SYSTEM_COLUMNS = frozenset({RESCUED_COLUMN, "_source_file", "_source_modified_at", "_ingest_run_id", "_ingested_at"})
"""Columns the loader itself adds; they never count as a schema change."""

RESOLUTIONS: dict[str, SchemaResolution] = {
    "add_new_columns": "auto_applied",
    "rescue": "rescued",
    "ignore": "ignored_fields",
    "fail": "pending",
}


def apply(
    table: tables.TableLike, data: pa.Table, planned: BatchPlanned
) -> tuple[tables.TableLike, pa.Table, DetectedChange | None]:
    """Evolve ``table`` for ``data`` under the ingestion's mode; return the table, the rows to append, the change.

    Raises:
        SchemaChangeError: Mode ``fail`` and the data differs from the table.
        SchemaConflictError: A column's type cannot change to the data's (names the column).
    """
    mode = planned.format.schema.evolution_mode
    data = _without(data, planned.ignored_columns)
    found = _relevant(diff(table.schema().as_arrow(), data.schema))
    detected = None
    if found is not None:
        change = to_contract(found)
        data = _resolve(found, data, mode=mode, accepted=planned.accepted_columns, change=change)
        if mode != "fail":
            detected = DetectedChange(change=change, mode=mode, resolution=RESOLUTIONS.get(mode, "auto_applied"))
        # Mode fail got here only because a resolved version accepted exactly this change: that
        # version already records it, so no new (pending) version is detected.
    table = tables.evolve_schema(table, data.schema)
    return table, tables.align_to_table(data, table), detected


def _resolve(
    found: SchemaDiff, data: pa.Table, *, mode: str, accepted: Mapping[str, str], change: SchemaChange
) -> pa.Table:
    if mode == "ignore":
        return _without(data, [name for name, _ in found.added])
    if mode == "rescue":
        return rescue(data, found)
    if mode == "fail" and not _all_accepted(found, accepted):
        raise SchemaChangeError(_describe(change), change=change)
    return data


def _relevant(found: SchemaDiff) -> SchemaDiff | None:
    """The part of ``found`` that changes the table: new columns and types the table column cannot take."""
    added = [(n, t) for n, t in found.added if n not in SYSTEM_COLUMNS]
    changed = [(n, old, new) for n, old, new in found.changed if n not in SYSTEM_COLUMNS and not fits(old, new)]
    if not (added or changed):
        return None
    removed = [n for n in found.removed if n not in SYSTEM_COLUMNS]
    return SchemaDiff(added=added, removed=removed, changed=changed)


def _all_accepted(found: SchemaDiff, accepted: Mapping[str, str]) -> bool:
    columns = [(n, t) for n, t in found.added] + [(n, new) for n, _, new in found.changed]
    return all(accepted.get(name) == type_name(arrow_type) for name, arrow_type in columns)


def type_name(arrow_type: pa.DataType) -> str:
    """The contract's name of an Arrow type (``int64``, ``string``; large variants as plain ones)."""
    return str(canonical(arrow_type))


def to_contract(found: SchemaDiff) -> SchemaChange:
    """The event form of a diff (types as names)."""
    return SchemaChange(
        added=[ColumnChange(name=n, new_type=type_name(t)) for n, t in found.added],
        removed=[ColumnChange(name=n) for n in found.removed],
        changed=[ColumnChange(name=n, old_type=type_name(o), new_type=type_name(t)) for n, o, t in found.changed],
    )


def _describe(change: SchemaChange) -> str:
    parts = [f"new columns {', '.join(f'{c.name} ({c.new_type})' for c in change.added)}"] if change.added else []
    parts += [f"{c.name} changed from {c.old_type} to {c.new_type}" for c in change.changed]
    return (
        f"the files' schema differs from the table's ({'; '.join(parts)}) and the evolution mode is 'fail': "
        "resolve the pending schema version (auto_merge or ignore) to load them"
    )


def _without(data: pa.Table, names: Collection[str]) -> pa.Table:
    present = [n for n in names if n in data.column_names]
    return data.drop_columns(present) if present else data


def rescue(data: pa.Table, found: SchemaDiff) -> pa.Table:
    """Move new fields and misfitting values of ``found`` into a ``_rescued_data`` JSON column."""
    rescued: dict[str, list[object]] = {name: data.column(name).to_pylist() for name, _ in found.added}
    kept = _without(data, [name for name, _ in found.added])
    for name, table_type, _ in found.changed:
        column, misfits = _cast_or_rescue(kept.column(name), table_type)
        kept = kept.set_column(kept.column_names.index(name), pa.field(name, table_type), column)
        rescued[name] = misfits
    documents = [_document(rescued, row) for row in range(data.num_rows)]
    return kept.append_column(pa.field(RESCUED_COLUMN, pa.string()), pa.array(documents, pa.string()))


def _document(rescued: Mapping[str, list[object]], row: int) -> str | None:
    values = {name: tables.jsonable(values[row]) for name, values in rescued.items() if values[row] is not None}
    return json.dumps(values, separators=(",", ":")) if values else None


def _cast_or_rescue(column: pa.ChunkedArray, target: pa.DataType) -> tuple[pa.Array, list[object]]:
    """Cast ``column`` to ``target``; values that do not convert become null and are returned to rescue."""
    try:
        return pc.cast(column, target).combine_chunks(), [None] * len(column)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    converted: list[object] = []
    misfits: list[object] = []
    for value in column.to_pylist():
        try:
            converted.append(pa.array([value], column.type).cast(target)[0].as_py())
            misfits.append(None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            converted.append(None)
            misfits.append(value)
    return pa.array(converted, target), misfits
