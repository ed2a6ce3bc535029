"""Lineage columns: where every row came from and when it was loaded.

``_source_file`` is the file's path as the batch names it: relative to the source folder
(``source.path``) for local sources and relative to the source prefix for remote ones — the same
path the run's file list shows. ``_source_modified_at`` is the file's modification time as listed,
``_ingest_run_id`` the run's id, ``_ingested_at`` one UTC timestamp per batch, taken when the
loader starts writing it (a batch may be written in several groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from autoloader_contracts.events import FileRef, FileResult
from autoloader_loader.engine import LoadError, SchemaConflictError

SOURCE_FILE = "_source_file"
SOURCE_MODIFIED_AT = "_source_modified_at"
INGEST_RUN_ID = "_ingest_run_id"
INGESTED_AT = "_ingested_at"
LINEAGE_COLUMNS = (SOURCE_FILE, SOURCE_MODIFIED_AT, INGEST_RUN_ID, INGESTED_AT)
TIMESTAMP = pa.timestamp("us", tz="UTC")


def add_lineage(
    data: pa.Table,
    *,
    results: Sequence[FileResult],
    planned_files: Sequence[FileRef],
    run_id: str,
    ingested_at: datetime,
) -> pa.Table:
    """Append the four lineage columns to ``data`` (rows ordered file by file, as read).

    Args:
        data: The batch's rows, the rows of ``results[0]`` first.
        results: The files read, in the order their rows appear, with their row counts.
        planned_files: The batch's file list (gives each path's modification time).
        run_id: The run loading the batch.
        ingested_at: The batch's load time (made UTC).

    Raises:
        SchemaConflictError: The data already has a column with a lineage column's name.
        LoadError: The row counts do not add up to the data's rows (a loader bug).
    """
    clashing = [name for name in LINEAGE_COLUMNS if name in data.column_names]
    if clashing:
        raise SchemaConflictError(
            f"the files already have columns {clashing}, which are lineage column names; "
            "rename them in the files or set destination.lineage_columns to false"
        )
    counts = [r.rows for r in results]
    if sum(counts) != data.num_rows:
        raise LoadError(f"lineage: the files' rows add up to {sum(counts)} but the batch has {data.num_rows}")
    modified_at = {f.path: f.modified_at.astimezone(UTC) for f in planned_files}
    when = ingested_at.astimezone(UTC)
    paths = _per_row([r.path for r in results], counts, pa.string())
    modified = _per_row([modified_at.get(r.path) for r in results], counts, TIMESTAMP)
    data = data.append_column(pa.field(SOURCE_FILE, pa.string()), paths)
    data = data.append_column(pa.field(SOURCE_MODIFIED_AT, TIMESTAMP), modified)
    data = data.append_column(pa.field(INGEST_RUN_ID, pa.string()), pa.repeat(pa.scalar(run_id), data.num_rows))
    return data.append_column(
        pa.field(INGESTED_AT, TIMESTAMP), pa.repeat(pa.scalar(when, type=TIMESTAMP), data.num_rows)
    )


def _per_row(values: Sequence[object], counts: Sequence[int], type_: pa.DataType) -> pa.Array:
    """Each value repeated its file's row count, as one contiguous array."""
    parts = [pa.repeat(pa.scalar(value, type=type_), count) for value, count in zip(values, counts, strict=True)]
    return pa.concat_arrays(parts) if parts else pa.array([], type=type_)
