"""A preview of a batch: its rows exactly as a load would write them, and nothing written.

The files are read by the load's own reader (:func:`autoloader_loader.bad_data.iter_file`, with
the ingestion's bad-data policy), get the load's lineage columns, go through the evolution mode
against the table inside a transaction that is never committed (or against the schema the first
load would create the table with), and are cast to the resulting table schema. Differences from
the run: ``_ingest_run_id`` is ``"preview"`` and ``_ingested_at`` is the preview's time.

Blocking (PyArrow, catalog reads): the engine calls it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import Table

from autoloader_contracts.events import BatchPlanned, FileResult, SchemaChange
from autoloader_contracts.rpc import ColumnPreview, MalformedRecord, PreviewSampleReply
from autoloader_loader import bad_data, evolution, lineage, streaming, tables, writes
from autoloader_loader.engine import LoadError, SchemaChangeError

PREVIEW_RUN_ID = "preview"
MALFORMED_SHOWN = 20

_ACTIONS = {"add_new_columns": "add_columns", "rescue": "rescue", "ignore": "ignore_fields", "fail": "fail"}
_ACTION_MESSAGES = {
    "create_table": "the first run creates the table with these columns",
    "none": "the files fit the table's schema",
    "add_columns": "the run adds the new columns to the table (and widens types where Iceberg allows)",
    "rescue": "the run keeps the table's schema and puts unknown fields into _rescued_data",
    "ignore_fields": "the run drops the fields the table does not have",
    "fail": "the run stops and waits for you to resolve the schema change (evolution mode 'fail')",
}


@dataclass(frozen=True)
class SampleFile:
    """A local copy (or the file itself) of one sampled file.

    Attributes:
        path: Where to read it.
        limit_bytes: Read at most this many (decompressed) bytes; None reads it whole.
        complete: The copy holds the whole file (its rows are exact, not a sample).
    """

    path: Path
    limit_bytes: int | None = None
    complete: bool = True


@dataclass
class _Read:
    parts: list[pa.Table] = field(default_factory=list)
    results: list[FileResult] = field(default_factory=list)
    malformed: list[MalformedRecord] = field(default_factory=list)
    malformed_count: int = 0
    files: int = 0
    bytes_read: int = 0
    whole_bytes: int = 0
    whole_rows: int = 0
    warnings: list[str] = field(default_factory=list)


def preview(
    planned: BatchPlanned, files: Mapping[str, SampleFile], table: Table | None, *, sample_rows: int, now: datetime
) -> PreviewSampleReply:
    """Read ``files`` (the batch's files that were sampled) as the batch would be written at ``now``."""
    read = _read_all(planned, files)
    if not read.parts:
        return _reply(read, table, [], [], action="none" if table else "create_table")
    data = streaming.combined(read.parts)
    if planned.destination.lineage_columns:
        data = lineage.add_lineage(
            data, results=read.results, planned_files=planned.files, run_id=PREVIEW_RUN_ID, ingested_at=now
        )
    current = table.schema() if table is not None else None
    try:
        writes.check_write_mode(planned, data)
        schema, aligned, change = _as_written(planned, data, table)
    except SchemaChangeError as exc:
        return _reply(read, table, _columns(current, data), [], action="fail", diff=exc.change)
    except LoadError as exc:
        read.warnings.append(f"the run would fail: {exc.message}")
        return _reply(read, table, _columns(current, data), [], action="none")
    action = "create_table" if table is None else _ACTIONS.get(planned.format.schema.evolution_mode, "add_columns")
    if table is not None and change is None:
        action = "none"
    rows = [tables.jsonable(row) for row in aligned.slice(0, sample_rows).to_pylist()]
    return _reply(read, table, _columns(schema, aligned), rows, action=action, diff=change)


def _read_all(planned: BatchPlanned, files: Mapping[str, SampleFile]) -> _Read:
    read = _Read()
    # fail_run would fail the run on the first bad file; the preview reports it like skip_file does.
    policy = bad_data.SKIP_ROW if planned.errors.on_error == bad_data.SKIP_ROW else bad_data.SKIP_FILE
    for ref in planned.files:
        sample = files.get(ref.path)
        if sample is None:
            continue
        read.files += 1
        rows_log = bad_data.BadDataLog(policy)
        parts: list[pa.Table] = []
        try:
            for part in bad_data.iter_file(
                sample.path,
                planned.format,
                file=ref.path,
                rows=rows_log,
                batch_rows=streaming.READ_CHUNK_ROWS,
                limit_bytes=sample.limit_bytes,
            ):
                if part.num_rows:
                    parts.append(part)
        except bad_data.UnreadableFile as exc:
            read.malformed_count += 1
            read.malformed.append(MalformedRecord(file=ref.path, message=exc.message, line=exc.line))
            continue
        _add_file(read, ref.path, sample, parts, rows_log)
    if planned.errors.on_error == bad_data.FAIL_RUN and read.malformed_count:
        read.warnings.append("errors.on_error is fail_run: the run would fail on the malformed records below")
    return read


def _add_file(read: _Read, name: str, sample: SampleFile, parts: list[pa.Table], log: bad_data.BadDataLog) -> None:
    rows = sum(p.num_rows for p in parts)
    read.parts.extend(parts)
    read.results.append(FileResult(path=name, rows=rows, bytes=0))
    read.malformed_count += log.rejected_rows
    read.malformed += [MalformedRecord(file=e.file or name, message=e.message, line=e.line) for e in log.row_errors]
    size = sample.path.stat().st_size
    read.bytes_read += size if sample.limit_bytes is None else min(size, sample.limit_bytes)
    if sample.complete:
        read.whole_bytes += size
        read.whole_rows += rows


def _as_written(
    planned: BatchPlanned, data: pa.Table, table: Table | None
) -> tuple[Schema, pa.Table, SchemaChange | None]:
    """The table's schema after the load, the rows as written, and the schema change.

    Raises:
        SchemaChangeError: Mode ``fail`` and the data differs from the table.
        SchemaConflictError: The data cannot be made to fit (a type, a partition column).
    """
    partitioning = writes.requested_partitioning(planned)
    if table is None:
        schema = assign_fresh_schema_ids(tables.iceberg_schema_of(tables.all_optional(data.schema)))
        writes.partition_spec(schema, partitioning)
        return schema, tables.align_to_schema(data, schema), None
    writes.check_partitioning(table, partitioning, identifier=planned.destination.identifier)
    staged = tables.StagedTable(table.transaction())  # never committed
    evolved, aligned, detected = evolution.apply(staged, data, planned)
    return evolved.schema(), aligned, detected.change if detected is not None else None


def _columns(schema: Schema | None, data: pa.Table) -> list[ColumnPreview]:
    """The columns as written, with the sample's share of nulls (the data's own schema when none is known)."""
    rows = max(1, data.num_rows)
    names = [f.name for f in schema.fields] if schema is not None else data.column_names
    types = {f.name: str(f.field_type) for f in schema.fields} if schema is not None else {}
    columns = []
    for name in names:
        nulls = data.column(name).null_count if name in data.column_names else data.num_rows
        type_name = types.get(name) or str(data.schema.field(name).type)
        columns.append(ColumnPreview(name=name, type=type_name, null_percent=round(100.0 * nulls / rows, 2)))
    return columns


def _reply(
    read: _Read,
    table: Table | None,
    columns: list[ColumnPreview],
    rows: list[dict[str, object]],
    *,
    action: str,
    diff: SchemaChange | None = None,
) -> PreviewSampleReply:
    return PreviewSampleReply(
        columns=columns,
        rows=rows,
        table_exists=table is not None,
        diff=diff or SchemaChange(),
        action=action,
        action_message=_ACTION_MESSAGES.get(action, ""),
        malformed_count=read.malformed_count,
        malformed=read.malformed[:MALFORMED_SHOWN],
        files_sampled=read.files,
        bytes_sampled=read.bytes_read,
        rows_sampled=sum(r.rows for r in read.results),
        whole_files_bytes=read.whole_bytes,
        whole_files_rows=read.whole_rows,
        warnings=read.warnings,
    )
