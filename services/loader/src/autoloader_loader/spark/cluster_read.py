"""The cluster reads a batch's files itself: Spark DataFrame in, Parquet out, PyIceberg commit.

Nothing of the data passes through the loader. Spark reads the files (``FAILFAST``), counts rows
per file (``_metadata.file_path``), and the loader evolves the table for Spark's schema with the
same rules as every other load (:func:`autoloader_loader.evolution.apply` on an empty Arrow table of
that schema). Spark then writes the rows, cast to the table's schema with the lineage columns,
into the table's data folder, and the loader commits the files in one transaction carrying the
batch id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.table import Table
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.connect.session import SparkSession
from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema

from autoloader_contracts.events import BatchPlanned, FileRef, FileResult
from autoloader_loader import evolution, lineage, streaming, tables, writes
from autoloader_loader.domain import encode_file_rows
from autoloader_loader.engine import (
    SNAPSHOT_BATCH_ID,
    SNAPSHOT_BATCH_ROWS,
    SNAPSHOT_FILE_ROWS,
    SNAPSHOT_INGESTION_ID,
    SNAPSHOT_RUN_ID,
    BatchResult,
    DetectedChange,
)
from autoloader_loader.spark.names import quoted
from autoloader_loader.spark.reading import spark_read_options
from autoloader_loader.spark.staged import SparkStagedTable
from autoloader_loader.writes import quiet_empty_delete

log = logging.getLogger(__name__)

FILE_COLUMN = "__autoloader_file"
TEXT_FORMATS = ("csv", "tsv", "json")


class NeedsConnector(Exception):
    """The cluster cannot read this batch the way our readers would; stream it through the connectors."""


@dataclass
class ClusterRead:
    """One batch read by the cluster.

    Attributes:
        planned: The batch.
        session: The leased session.
        identifier: ``catalog.database.table`` for results and errors.
        table: The table, or None before the first load.
        create_table: Creates the table for an Arrow schema.
        uris: Each file's URI as the cluster reads it, by the batch's relative path (local files
            already resolved and confined to the allowed roots).
    """

    planned: BatchPlanned
    session: SparkSession
    identifier: str
    table: Table | None
    create_table: Callable[[pa.Schema], Table]
    uris: dict[str, str]
    spark_seconds: float = 0.0

    def run(self) -> tuple[BatchResult, Table]:
        """Read, evolve, write and stage the batch; return its result and the uncommitted transaction's table.

        Raises:
            NeedsConnector: The table's partitioning needs the loader to split the rows.
            SchemaChangeError, SchemaConflictError, LoadError: As every load.
        """
        # The rows-per-file count and the write both scan the files: parse them once, keep the rows
        # on the cluster (memory, spilling to disk) for the write, and release them afterwards.
        frame = self._read().persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._run(frame)
        finally:
            frame.unpersist()

    def _run(self, frame: DataFrame) -> tuple[BatchResult, Table]:
        planned = self.planned
        started = time.monotonic()
        counts = self._rows_per_file(frame)
        ingested_at = datetime.now(UTC)
        empty = lineage_schema_probe(frame, planned, ingested_at)
        # Reading, counting and the schema are Spark's work too (the write is timed by the staged table).
        self.spark_seconds += time.monotonic() - started
        writes.check_write_mode(planned, empty)
        table = self._table_for(empty.schema)
        staged = SparkStagedTable(table.transaction(), session=self.session, batch_id=planned.aggregate_id)
        _, aligned, change = evolution.apply(staged, empty, planned)
        projected = _project(frame, aligned.schema, planned, counts, ingested_at)
        rows_of = {ref.path: rows for ref, rows in counts.values()}
        results = [FileResult(path=f.path, rows=rows_of.get(f.path, 0), bytes=f.size) for f in planned.files]
        total = sum(r.rows for r in results)
        properties = {
            SNAPSHOT_INGESTION_ID: planned.ingestion_id,
            SNAPSHOT_RUN_ID: planned.run_id,
            SNAPSHOT_BATCH_ID: planned.aggregate_id,
            SNAPSHOT_FILE_ROWS: encode_file_rows([r.rows for r in results]),
            SNAPSHOT_BATCH_ROWS: str(total),
        }
        if total == 0:
            # Header-only files: nothing to commit (as with the embedded engine).
            return self._result(results, 0, None, table, change), table
        try:
            if planned.destination.write_mode == "overwrite" and writes.replaces_table(staged, planned.run_id):
                with quiet_empty_delete():
                    staged.transaction.delete(AlwaysTrue(), snapshot_properties=properties)
            staged.append_frame(projected, properties)
            committed = staged.transaction.commit_transaction()
        except BaseException:
            # Files Spark wrote for a transaction that never committed would be orphans.
            streaming.abandon(table, staged)
            raise
        finally:
            self.spark_seconds += staged.spark_seconds
        snapshot = tables.find_batch_snapshot(committed, planned.aggregate_id)
        snapshot_id = snapshot.snapshot_id if snapshot is not None else None
        return self._result(results, total, snapshot_id, committed, change), committed

    def _result(
        self, files: list[FileResult], rows: int, snapshot_id: int | None, table: Table, change: DetectedChange | None
    ) -> BatchResult:
        return BatchResult(
            files=files,
            rows=rows,
            bytes=sum(f.size for f in self.planned.files),
            snapshot_id=snapshot_id,
            table=self.identifier,
            duration_seconds=0.0,
            schema_id=table.schema().schema_id if snapshot_id is not None else None,
            schema_change=change,
            read_by="cluster",
        )

    def _read(self) -> DataFrame:
        source, options = spark_read_options(self.planned)
        paths = [self.uris[f.path] for f in self.planned.files]
        frame = self.session.read.format(source).options(**options).load(paths)
        return frame.withColumn(FILE_COLUMN, sf.col("_metadata.file_path"))

    def _rows_per_file(self, frame: DataFrame) -> dict[str, tuple[FileRef, int]]:
        """Rows per file read, keyed by the file's name as Spark spells it (files without rows are absent)."""
        wanted = {_comparable(self.uris[f.path]): f for f in self.planned.files}
        counts: dict[str, tuple[FileRef, int]] = {}
        for row in frame.groupBy(FILE_COLUMN).count().collect():
            spark_name = row[FILE_COLUMN]
            ref = wanted.get(_comparable(spark_name))
            if ref is None:
                raise NeedsConnector(f"Spark read a file the batch does not name: {spark_name}")
            counts[spark_name] = (ref, int(row["count"]))
        return counts

    def _table_for(self, schema: pa.Schema) -> Table:
        if self.table is None:
            self.table = self.create_table(schema)
        else:
            writes.check_partitioning(
                self.table, writes.requested_partitioning(self.planned), identifier=self.identifier
            )
        return self.table


def lineage_schema_probe(frame: DataFrame, planned: BatchPlanned, ingested_at: datetime) -> pa.Table:
    """An empty Arrow table with the batch's columns as Spark read them (plus lineage), for evolution."""
    schema = to_arrow_schema(frame.drop(FILE_COLUMN).schema, timezone="UTC")
    if planned.format.type in TEXT_FORMATS:
        schema = pa.schema([field.with_type(_as_our_readers_type(field.type)) for field in schema])
    empty = schema.empty_table()
    if not planned.destination.lineage_columns:
        return empty
    return lineage.add_lineage(
        empty, results=[], planned_files=planned.files, run_id=planned.run_id, ingested_at=ingested_at
    )


def _as_our_readers_type(data_type: pa.DataType) -> pa.DataType:
    """Spark infers the narrowest int/float for text; our readers infer 64-bit: keep tables the same either way."""
    if pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_floating(data_type):
        return pa.float64()
    return data_type


def _project(
    frame: DataFrame,
    schema: pa.Schema,
    planned: BatchPlanned,
    counts: dict[str, tuple[FileRef, int]],
    ingested_at: datetime,
) -> DataFrame:
    """Spark's rows cast to the table's columns, in its order, with the lineage columns filled in."""
    # Keys are the names Spark itself gave the files in the count pass, so the lookup is exact.
    file_col = sf.col(FILE_COLUMN)
    relative = _lookup({name: ref.path for name, (ref, _) in counts.items()}, file_col)
    modified = _lookup({name: _utc_text(ref.modified_at) for name, (ref, _) in counts.items()}, file_col)
    fills: dict[str, Column] = {
        lineage.SOURCE_FILE: relative,
        lineage.SOURCE_MODIFIED_AT: modified,
        lineage.INGEST_RUN_ID: sf.lit(planned.run_id),
        lineage.INGESTED_AT: sf.lit(_utc_text(ingested_at)),
    }
    present = set(frame.columns)
    columns = []
    for field in schema:
        spark_type = from_arrow_type(field.type, prefer_timestamp_ntz=True)
        if planned.destination.lineage_columns and field.name in fills:
            value = fills[field.name]
        elif field.name in present:
            value = sf.col(quoted(field.name))
        else:
            value = sf.lit(None)
        columns.append(value.cast(spark_type).alias(field.name))
    return frame.select(*columns)


def _utc_text(moment: datetime) -> str:
    """A timestamp as ISO text, cast to a timestamp by Spark (session zone UTC).

    pyspark types a ``datetime`` literal by asking the process's *active* session for its
    timestamp preference -- an RPC to whichever cluster's session was created last. Text needs none.
    """
    return moment.astimezone(UTC).isoformat()


def _lookup(mapping: dict[str, str], key: Column) -> Column:
    """``mapping[key]`` as a Spark expression (a literal map; batches name at most a few hundred files)."""
    entries: list[Column] = []
    for name, value in mapping.items():
        entries += [sf.lit(name), sf.lit(value)]
    return sf.create_map(*entries)[key] if entries else sf.lit(None)


def _comparable(uri: str) -> str:
    """One spelling for a file URI (Spark writes ``file:/x`` and may percent-encode)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file:///" + unquote(parts.path).lstrip("/")
    return f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"
