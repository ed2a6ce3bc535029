"""Bounded-memory batch writes: a batch's rows go into its table in groups, inside one transaction.

Files are read chunk by chunk (:func:`autoloader_loader.bad_data.iter_file`); chunks are buffered
until a group holds :data:`GROUP_ROWS` rows or :data:`GROUP_BYTES` of Arrow memory, then the group
is combined into one contiguous table (PyIceberg is slow on many small chunks), given its lineage
columns, evolved/aligned to the table and staged as one snapshot of the batch's transaction.
The transaction commits once at the end: one catalog commit per batch, so exactly-once holds
(every snapshot carries the batch id; the last one also the batch's totals, see
:data:`~autoloader_loader.engine.SNAPSHOT_BATCH_ROWS`).

``merge`` keeps whole-batch semantics (the last row of a key wins across the whole batch), so
its rows are held in memory until the batch is read. The first group decides the schema; a
later group whose schema differs (a JSON chunk inferring a wider type, a file with a new column)
goes through the same evolution within the transaction.

A transaction that is abandoned (an error, a lost commit race, a file found bad part-way) leaves
data and manifest files no snapshot refers to: :meth:`BatchWriter.abandon` deletes them.

A lost commit race does not have to cost the batch's writes: when another writer (a second loader
on the same table) committed first, an ``append`` batch whose schema and partition spec did not
move is committed again onto the new table state with the data files it already wrote
(:meth:`BatchWriter.recommit`), after the caller has checked that the winner was not this batch.

With ``background`` on (the embedded engine), a full group's data files are encoded by worker
threads while the next group is read: reading (Arrow's CSV/JSON parsers) and Parquet encoding both
release the GIL, so they overlap on two cores (:data:`WRITERS` groups may encode at once).
Preparing a group (combining, lineage, evolution, alignment) and staging its snapshot stay on the
reading thread, in group order, so the transaction is only ever touched by one thread and the last
snapshot is the one with the totals. At most :data:`WRITERS` groups are in flight, and a group is
combined only once fewer are (memory stays at ``WRITERS + 1`` groups); a write error surfaces at the
next ``add`` or at ``finish``. A group that is not a plain append (a run's first overwrite) waits
for the groups before it and is written in line.
"""

from __future__ import annotations

import contextvars
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import DataFile, ManifestEntryStatus
from pyiceberg.table import Table, Transaction
from pyiceberg.table.update.snapshot import _FastAppendFiles

from autoloader_contracts.events import BatchPlanned, FileResult
from autoloader_core.tracing import SpanKind, span
from autoloader_loader import evolution, lineage, tables, writes
from autoloader_loader.domain import encode_file_rows
from autoloader_loader.engine import (
    SNAPSHOT_BATCH_ID,
    SNAPSHOT_BATCH_ROWS,
    SNAPSHOT_FILE_ROWS,
    SNAPSHOT_INGESTION_ID,
    SNAPSHOT_RUN_ID,
    DetectedChange,
    SchemaConflictError,
)

log = logging.getLogger(__name__)

GROUP_ROWS = 250_000
"""A group is written once it holds this many rows..."""
GROUP_BYTES = 96 * 1024 * 1024
"""...or this much Arrow memory (``WRITERS + 1`` groups may be in memory at once)."""
WRITERS = 1
"""Groups whose data files are encoded at once in the background. Two were measured on two cores
(2026-12-07): no clear gain over one (reading and the other encoder compete for the same cores) and
+80 MB peak RSS on a 2 GB CSV, near the 600 MB budget; more cores would change that."""
READ_CHUNK_ROWS = 65_536
"""The largest chunk read from a file at a time."""


@dataclass
class _Part:
    file: int
    data: pa.Table


@dataclass
class _InFlight:
    """A group whose data files a worker is encoding; staged as one snapshot when done."""

    properties: dict[str, str]
    files: Future[list[DataFile]]


@dataclass
class BatchWriter:
    """Writes one batch's rows group by group into one PyIceberg transaction.

    Attributes:
        planned: The batch.
        table: The destination table, or None until the first group creates it.
        create_table: Creates the table for the first group's Arrow schema.
        ingested_at: The batch's ``_ingested_at`` (one per batch).
        identifier: The table's name in errors (``catalog.database.table``).
    """

    planned: BatchPlanned
    identifier: str
    table: Table | None
    create_table: Callable[[pa.Schema], Table]
    ingested_at: datetime
    stage: Callable[[Transaction], tables.StagedTable] = tables.StagedTable
    """Wraps the batch's transaction (the Spark engine's version has Spark write the data files)."""
    before_commit: Callable[[], None] | None = None
    """Called when every data file is written, just before the catalog commit (crash tests)."""
    background: bool = False
    """Write full groups in a worker thread while the next is read (off for a stage that shares a
    Spark session with the reads)."""
    staged: tables.StagedTable | None = None
    schema_change: DetectedChange | None = None
    rows_written: int = 0
    _parts: list[_Part] = field(default_factory=list)
    _buffered_rows: int = 0
    _buffered_bytes: int = 0
    _written_files: set[int] = field(default_factory=set)
    """Files some of whose rows were handed to a group write (they cannot be taken back)."""
    _in_flight: deque[_InFlight] = field(default_factory=deque)
    _workers: ThreadPoolExecutor | None = None
    _written: list[tuple[dict[str, str], list[DataFile]]] | None = None
    """After a lost commit race: each staged snapshot's properties and data files, in order."""
    _appends_only: bool = False
    """After a lost commit race: whether every staged snapshot was a plain append."""

    def add(self, file: int, data: pa.Table) -> None:
        """Buffer a chunk of the batch's ``file``-th file, writing the buffer first when it is full.

        Raises:
            Exception: Whatever writing an earlier group raised (schema conflicts, storage errors).
        """
        whole_batch = self.planned.destination.write_mode == "merge"
        if not whole_batch and (self._buffered_rows >= GROUP_ROWS or self._buffered_bytes >= GROUP_BYTES):
            self._hand_over_group()
        self._parts.append(_Part(file, data))
        self._buffered_rows += data.num_rows
        self._buffered_bytes += data.nbytes

    def drop_file(self, file: int) -> bool:
        """Forget the buffered rows of ``file``; True when the batch must be written again without it.

        That is when some of its rows were already handed to a group write, and also when dropping
        it empties the buffer after groups were written: the batch's totals go on its last snapshot,
        which would then be missing.
        """
        self._parts = [p for p in self._parts if p.file != file]
        self._buffered_rows = sum(p.data.num_rows for p in self._parts)
        self._buffered_bytes = sum(p.data.nbytes for p in self._parts)
        return file in self._written_files or (not self._parts and bool(self._written_files))

    def finish(self, files: list[FileResult]) -> Table | None:
        """Write the last group with the batch's totals and commit; None when there were no rows.

        Raises:
            CommitFailedException: Another writer committed first (call :meth:`abandon`, then retry).
            Exception: Whatever writing a group raised.
        """
        if not self._parts:
            self._stage_done(keep=0)
            self._stop_workers()
            return None
        total = self.rows_written + self._buffered_rows
        properties = self._base_properties() | {
            SNAPSHOT_FILE_ROWS: encode_file_rows([f.rows for f in files]),
            SNAPSHOT_BATCH_ROWS: str(total),
        }
        try:
            self._write_group(self._take_parts(), properties)
            self._stage_done(keep=0)
        finally:
            self._stop_workers()
        assert self.staged is not None  # a group was written
        if self.before_commit is not None:
            self.before_commit()
        return self._commit()

    def recommit(self, fresh: Table) -> Table | None:
        """Commit the data files already written onto ``fresh``, the table after another writer's commit.

        Only after a lost race (:meth:`finish` raised ``CommitFailedException``), and only once the
        caller has checked that ``fresh`` does not hold this batch already.

        Returns:
            The committed table, or None when the files cannot be reused: not an ``append``, or the
            table's schema, partition spec or identity moved (the caller abandons and rewrites).

        Raises:
            CommitFailedException: Another writer committed first again.
        """
        if self._written is None or not self._reusable_on(fresh):
            return None
        self.table, self.staged = fresh, self.stage(fresh.transaction())
        for properties, data_files in self._written:
            self.staged.add_data_files(data_files, properties)
        return self._commit()

    def _commit(self) -> Table:
        assert self.staged is not None
        transaction = self.staged.transaction
        producers = list(transaction._snapshot_producers)  # PyIceberg drops them once a commit succeeds
        try:
            with span("iceberg commit", kind=SpanKind.CLIENT, attributes={"iceberg.table": self.identifier}):
                return transaction.commit_transaction()
        except CommitFailedException:
            # PyIceberg has deleted the attempt's manifests; the data files stay, listed here.
            self._written = [(dict(p.snapshot_properties), list(p._added_data_files)) for p in producers]
            self._appends_only = all(isinstance(p, _FastAppendFiles) for p in producers)
            raise

    def _reusable_on(self, fresh: Table) -> bool:
        assert self.staged is not None
        assert self.table is not None
        staged, base, now = self.staged.metadata, self.table.metadata, fresh.metadata
        return (
            self.planned.destination.write_mode == "append"
            and self._appends_only
            and now.table_uuid == base.table_uuid
            and now.current_schema_id == staged.current_schema_id == base.current_schema_id
            and now.default_spec_id == staged.default_spec_id == base.default_spec_id
        )

    def abandon(self) -> None:
        """Drop the uncommitted transaction and delete the files it wrote (best effort)."""
        unstaged = self._unstaged_files()
        self._stop_workers()
        _delete_files(self.table, lambda: unstaged)
        if self._written is not None:
            written = self._written
            _delete_files(self.table, lambda: [f.file_path for _, files in written for f in files])
        elif self.staged is not None and self.table is not None:
            abandon(self.table, self.staged)

    def _base_properties(self) -> dict[str, str]:
        return {
            SNAPSHOT_INGESTION_ID: self.planned.ingestion_id,
            SNAPSHOT_RUN_ID: self.planned.run_id,
            SNAPSHOT_BATCH_ID: self.planned.aggregate_id,
        }

    def _take_parts(self) -> list[_Part]:
        parts, self._parts = self._parts, []
        self._buffered_rows = self._buffered_bytes = 0
        self._written_files.update(p.file for p in parts)
        return parts

    def _hand_over_group(self) -> None:
        """Write the buffered group: in line, or (``background``) its data files on a worker."""
        self._write_group(self._take_parts(), self._base_properties())

    def _write_group(self, parts: list[_Part], properties: dict[str, str]) -> None:
        # Before combining: the combined copy must not meet a full set of groups in flight (memory).
        self._stage_done(keep=WRITERS - 1)
        data = self._with_lineage(combined([p.data for p in parts]), parts)
        writes.check_write_mode(self.planned, data)
        staged = self._staged(data.schema)
        _, aligned, change = evolution.apply(staged, data, self.planned)
        self.schema_change = self.schema_change or change
        self.rows_written += aligned.num_rows
        if not self.background or not writes.appends(staged, self.planned):
            self._stage_done(keep=0)  # the transaction's snapshots stay in group order
            with span("write data files", attributes={"iceberg.table": self.identifier, "rows": aligned.num_rows}):
                writes.write(staged, aligned, self.planned, properties)
            return
        if self._workers is None:
            self._workers = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="group-writer")
        # Workers run in this context: their spans belong to the batch's trace.
        in_context = contextvars.copy_context().run
        files = self._workers.submit(in_context, self._encode, staged.data_files(aligned), aligned.num_rows)
        self._in_flight.append(_InFlight(properties, files))

    def _encode(self, write: Callable[[], list[DataFile]], rows: int) -> list[DataFile]:
        with span("write data files", attributes={"iceberg.table": self.identifier, "rows": rows}):
            return write()

    def _stage_done(self, *, keep: int) -> None:
        """Stage the oldest in-flight groups' snapshots, in order, until at most ``keep`` are in flight.

        Raises:
            Exception: Whatever encoding a group raised.
        """
        while len(self._in_flight) > keep:
            group = self._in_flight.popleft()
            assert self.staged is not None  # a group in flight was prepared on it
            self.staged.add_data_files(group.files.result(), group.properties)

    def _unstaged_files(self) -> list[str]:
        """Wait for the groups in flight; the paths of the data files they wrote (never staged)."""
        paths: list[str] = []
        while self._in_flight:
            group = self._in_flight.popleft()
            try:
                paths += [f.file_path for f in group.files.result()]
            except Exception as exc:
                # The error that made us abandon the batch is the one reported; this one only joins it.
                log.info("a group write failed while the batch was being abandoned", extra={"error": str(exc)})
        return paths

    def _stop_workers(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=True)
            self._workers = None

    def _staged(self, schema: pa.Schema) -> tables.StagedTable:
        if self.staged is not None:
            return self.staged
        if self.table is None:
            self.table = self.create_table(schema)
        else:
            partitioning = writes.requested_partitioning(self.planned)
            writes.check_partitioning(self.table, partitioning, identifier=self.identifier)
        self.staged = self.stage(self.table.transaction())
        return self.staged

    def _with_lineage(self, data: pa.Table, parts: list[_Part]) -> pa.Table:
        if not self.planned.destination.lineage_columns:
            return data
        files = self.planned.files
        results: list[FileResult] = []
        for part in parts:
            if results and results[-1].path == files[part.file].path:
                last = results[-1]
                results[-1] = FileResult(path=last.path, rows=last.rows + part.data.num_rows, bytes=0)
            else:
                results.append(FileResult(path=files[part.file].path, rows=part.data.num_rows, bytes=0))
        return lineage.add_lineage(
            data, results=results, planned_files=files, run_id=self.planned.run_id, ingested_at=self.ingested_at
        )


def combined(tables_: list[pa.Table]) -> pa.Table:
    """One contiguous table of ``tables_`` (columns unified; a type clash is a schema conflict)."""
    try:
        joined = pa.concat_tables(tables_, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaConflictError(f"the files of this batch disagree on column types: {exc}") from exc
    return joined.combine_chunks()


def _delete_files(table: Table | None, paths: Callable[[], list[str]]) -> None:
    """Delete an abandoned transaction's files (best effort: never hides the error that abandoned it)."""
    if table is None:
        return
    try:
        found = paths()
        for path in found:
            table.io.delete(path)
    except Exception as exc:
        log.warning("could not delete an abandoned transaction's files", extra={"error": str(exc)})
        return
    if found:
        log.info("deleted files of an abandoned transaction", extra={"files": len(found)})


def abandon(table: Table, staged: tables.StagedTable) -> None:
    """Delete the files of ``staged``'s uncommitted snapshots (best effort)."""
    _delete_files(table, lambda: uncommitted_files(table, staged))


def uncommitted_files(table: Table, staged: tables.StagedTable) -> list[str]:
    """The data, manifest and manifest-list files of ``staged``'s uncommitted snapshots."""
    committed = {s.snapshot_id for s in table.metadata.snapshots}
    io = table.io
    paths: list[str] = []
    for snapshot in staged.metadata.snapshots:
        if snapshot.snapshot_id in committed:
            continue
        for manifest in snapshot.manifests(io):
            if manifest.added_snapshot_id != snapshot.snapshot_id:
                continue
            paths += [
                entry.data_file.file_path
                for entry in manifest.fetch_manifest_entry(io)
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot.snapshot_id
            ]
            paths.append(manifest.manifest_path)
        paths.append(snapshot.manifest_list)
    return paths
