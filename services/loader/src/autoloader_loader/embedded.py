"""The embedded engine: PyArrow readers + PyIceberg, into a built-in ``SqlCatalog`` on the service's Postgres.

In the built-in catalog each (tenant, catalog) gets its own catalog name and warehouse folder, so
tenants never share tables or files. A destination whose catalog is one the tenant registered goes
into that catalog instead (:mod:`autoloader_loader.catalogs`, ADR 0007). Blocking PyIceberg/PyArrow
work runs in a worker thread (heartbeats and acks keep flowing). A batch streams into its table in
bounded groups inside one transaction (:mod:`autoloader_loader.streaming`). Exactly-once: a batch's
id is a snapshot summary property, checked before writing and again after every lost commit race.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.schema import assign_fresh_schema_ids
from pyiceberg.table import Table, Transaction
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from autoloader_contracts.events import BatchPlanned, FileResult, RunError
from autoloader_contracts.rpc import PreviewSampleReply
from autoloader_core.errors import FieldError, NotFoundError, TerminalError, TransientError, ValidationFailed
from autoloader_core.settings import Settings
from autoloader_core.tracing import span
from autoloader_formats import reads_together
from autoloader_loader import bad_data, faults, sampling, streaming, tables, writes
from autoloader_loader.catalogs import CatalogLookup, catalog_errors, missing_bucket, no_user_catalogs, open_catalog
from autoloader_loader.domain import catalog_name, sqlalchemy_url, warehouse_location
from autoloader_loader.engine import (
    MAX_SAMPLE_ROWS,
    BatchResult,
    FileLoadError,
    LoadError,
    TableRef,
)
from autoloader_sources.local import LocalSource

log = logging.getLogger(__name__)

StageFactory = Callable[[Transaction], tables.StagedTable]


class RowSink(Protocol):
    """Where :meth:`EmbeddedEngine._read_into` puts the rows it reads (the batch writer, or a collector)."""

    def add(self, file: int, data: pa.Table) -> None:
        """Take a chunk of the ``file``-th file of the batch."""

    def drop_file(self, file: int) -> bool:
        """Forget the file's rows; True when some were already written (the batch must be redone)."""


COMMIT_ATTEMPTS = 6
COMMIT_BACKOFF_SECONDS = 0.2


class EmbeddedEngine:
    """:class:`~autoloader_loader.engine.LoaderEngine` on PyArrow + PyIceberg in this process."""

    def __init__(self, settings: Settings, catalogs: CatalogLookup = no_user_catalogs) -> None:
        self._settings = settings
        self._user_catalogs = catalogs
        self._catalogs: dict[tuple[str, str, str], Catalog] = {}
        self._lock = threading.Lock()

    # --- port --------------------------------------------------------------------------------

    async def reads_in_place(self, planned: BatchPlanned) -> bool:
        """Local folders only: remote files are read from local copies."""
        return planned.source.type == "local"

    async def load_batch(self, planned: BatchPlanned, staged: Mapping[str, Path] | None = None) -> BatchResult:
        """See :meth:`LoaderEngine.load_batch`."""
        return await asyncio.to_thread(self._guarded, self._load_batch, planned, staged)

    async def find_committed(self, planned: BatchPlanned) -> BatchResult | None:
        """See :meth:`LoaderEngine.find_committed`."""
        return await asyncio.to_thread(self._guarded, self._find_committed, planned)

    async def drop_table(self, ref: TableRef) -> bool:
        """See :meth:`LoaderEngine.drop_table`."""
        return await asyncio.to_thread(self._guarded, self._drop_table, ref)

    async def table_info(self, ref: TableRef) -> dict[str, Any]:
        """See :meth:`LoaderEngine.table_info`."""
        return await asyncio.to_thread(self._guarded, self._table_info, ref)

    async def table_sample(self, ref: TableRef, *, limit: int, columns: list[str] | None) -> list[dict[str, Any]]:
        """See :meth:`LoaderEngine.table_sample`."""
        return await asyncio.to_thread(self._guarded, self._table_sample, ref, limit, columns)

    async def preview(
        self, planned: BatchPlanned, files: Mapping[str, sampling.SampleFile], *, sample_rows: int, now: datetime
    ) -> PreviewSampleReply:
        """See :meth:`LoaderEngine.preview`."""
        return await asyncio.to_thread(self._guarded, self._preview, planned, files, sample_rows, now)

    async def close(self) -> None:
        """Dispose of every catalog's connection pool."""
        with self._lock:
            catalogs, self._catalogs = list(self._catalogs.values()), {}
        for catalog in catalogs:
            if isinstance(catalog, SqlCatalog):
                catalog.engine.dispose()

    # --- loading -----------------------------------------------------------------------------

    def _find_committed(self, planned: BatchPlanned) -> BatchResult | None:
        ref = TableRef.of(planned.tenant_id, planned.destination)
        table = self._load_or_none(self._catalog(ref), ref)
        return None if table is None else tables.committed_batch(table, planned, identifier=ref.identifier)

    def _load_batch(
        self,
        planned: BatchPlanned,
        staged: Mapping[str, Path] | None,
        stage: StageFactory = tables.StagedTable,
    ) -> BatchResult:
        started = time.monotonic()
        ref = TableRef.of(planned.tenant_id, planned.destination)
        catalog = self._catalog(ref)
        table = self._load_or_none(catalog, ref)
        if table is not None and (earlier := tables.committed_batch(table, planned, identifier=ref.identifier)):
            log.info("batch already committed", extra={"batch_id": planned.aggregate_id})
            return earlier
        if not planned.files:
            raise LoadError("the batch lists no files; nothing to load")
        paths = staged if staged is not None else self._local_paths(planned)
        left_out: list[RunError] = []
        lost_races = 0
        while True:
            try:
                return self._stream(
                    planned, paths, table=table, catalog=catalog, left_out=left_out, started=started, stage=stage
                )
            except _BadPartWay as exc:
                # Some rows of the file were already staged: redo the batch without it.
                left_out.append(exc.error)
            except CommitFailedException:
                # Another writer committed first: it may have been another loader with this very batch.
                lost_races += 1
                if lost_races >= COMMIT_ATTEMPTS:
                    raise TransientError(
                        f"{ref.identifier}: lost {COMMIT_ATTEMPTS} commit races in a row; retrying later"
                    ) from None
                table = catalog.load_table((ref.database, ref.table))
                if (earlier := tables.committed_batch(table, planned, identifier=ref.identifier)) is not None:
                    return earlier
                time.sleep(COMMIT_BACKOFF_SECONDS * lost_races)

    def _stream(
        self,
        planned: BatchPlanned,
        paths: Mapping[str, Path],
        *,
        table: Table | None,
        catalog: Catalog,
        left_out: list[RunError],
        started: float,
        stage: StageFactory,
    ) -> BatchResult:
        """Read the batch's files (but ``left_out``) group by group into one transaction and commit it."""
        ref = TableRef.of(planned.tenant_id, planned.destination)
        bad = bad_data.BadDataLog(planned.errors.on_error)
        bad.failed_files.extend(left_out)
        writer = streaming.BatchWriter(
            planned=planned,
            identifier=ref.identifier,
            table=self._without_internal_retry(table) if table is not None else None,
            create_table=lambda schema: self._create_table(catalog, ref, schema, planned),
            ingested_at=datetime.now(UTC),
            stage=stage,
            before_commit=self._fault_before_commit,
            # A Spark stage writes through a session the reads may use too: only ours writes in the background.
            background=stage is tables.StagedTable,
        )
        try:
            files = self._read_into(writer, planned, paths, bad, skip={e.file for e in left_out})
            committed = self._commit(writer, files, catalog, ref)
        except BaseException:
            writer.abandon()
            raise
        snapshot = tables.find_batch_snapshot(committed, planned.aggregate_id) if committed is not None else None
        return bad.applied_to(
            BatchResult(
                files=files,
                rows=writer.rows_written,
                bytes=sum(f.bytes for f in files),
                snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
                table=ref.identifier,
                duration_seconds=time.monotonic() - started,
                schema_id=committed.schema().schema_id if committed is not None else None,
                schema_change=writer.schema_change,
            )
        )

    @staticmethod
    def _commit(
        writer: streaming.BatchWriter, files: list[FileResult], catalog: Catalog, ref: TableRef
    ) -> Table | None:
        """Commit the batch; after a lost race, commit its written files again onto the winner's table.

        Raises:
            CommitFailedException: The files cannot be reused (or kept losing): the caller re-checks
                the batch id and, when no other writer committed this batch, rewrites it.
        """
        try:
            return writer.finish(files)
        except CommitFailedException:
            pass
        planned = writer.planned
        for attempt in range(1, COMMIT_ATTEMPTS):
            fresh = catalog.load_table((ref.database, ref.table))
            if tables.committed_batch(fresh, planned, identifier=ref.identifier) is not None:
                break  # the winner was this very batch (a redelivery): the caller returns its result
            try:
                committed = writer.recommit(fresh)
            except CommitFailedException:
                # Jittered: loaders that lost to the same winner must not collide again in step.
                time.sleep(random.uniform(0, COMMIT_BACKOFF_SECONDS * attempt))  # noqa: S311 - jitter, not a secret
                continue
            if committed is not None:
                log.info("committed after a lost race", extra={"batch_id": planned.aggregate_id, "attempt": attempt})
                return committed
            break
        raise CommitFailedException(f"{ref.identifier}: another writer committed first")

    def _fault_before_commit(self) -> None:
        """Crash tests: die with the batch's data files written but not committed (never set in production)."""
        if self._settings.fault == faults.BEFORE_COMMIT:
            log.warning("fault injection: exiting before the Iceberg commit")
            os._exit(137)

    @staticmethod
    def _read_into(
        writer: RowSink,
        planned: BatchPlanned,
        paths: Mapping[str, Path],
        bad: bad_data.BadDataLog,
        *,
        skip: set[str | None],
    ) -> list[FileResult]:
        """Stream every file but ``skip`` into ``writer`` under the bad-data policy; return the files read.

        Runs of small JSON-lines files are parsed together (one parse instead of one per file);
        when such a run holds anything unusual its files are read one by one, which applies the
        policy to the bad file exactly as if they had never been grouped.

        Raises:
            FileLoadError: A file is unreadable and the policy is ``fail_run``.
            _BadPartWay: A file turned out unreadable after some of its rows were written.
        """
        results: list[FileResult] = []
        for group in _read_groups(planned, skip):
            with span("read files", attributes={"files": len(group), "format": planned.format.type}):
                results += EmbeddedEngine._read_group(writer, planned, paths, bad, group)
        return results

    @staticmethod
    def _read_group(
        writer: RowSink, planned: BatchPlanned, paths: Mapping[str, Path], bad: bad_data.BadDataLog, group: list[int]
    ) -> list[FileResult]:
        """Read one group of files (together when they allow it, else one by one) into ``writer``."""
        together = (
            bad_data.read_together([paths[planned.files[i].path] for i in group], planned.format)
            if len(group) > 1
            else None
        )
        results: list[FileResult] = []
        if together is not None:
            for index, part in zip(group, together, strict=True):
                writer.add(index, part)
                results.append(_file_result(planned, paths, index, part.num_rows))
            return results
        for index in group:
            result = EmbeddedEngine._read_one(writer, planned, paths, bad, index)
            if result is not None:
                results.append(result)
        return results

    @staticmethod
    def _read_one(
        writer: RowSink, planned: BatchPlanned, paths: Mapping[str, Path], bad: bad_data.BadDataLog, index: int
    ) -> FileResult | None:
        """Stream the ``index``-th file into ``writer``; None when the policy left it out."""
        ref = planned.files[index]
        rows = bad_data.BadDataLog(bad.policy)
        count = 0
        try:
            for part in bad_data.iter_file(
                paths[ref.path], planned.format, file=ref.path, rows=rows, batch_rows=streaming.READ_CHUNK_ROWS
            ):
                # A chunk without rows (a header-only CSV) has null-typed columns that would only clash.
                if part.num_rows:
                    writer.add(index, part)
                    count += part.num_rows
        except bad_data.UnreadableFile as exc:
            bad.leave_out(ref.path, exc.message, line=exc.line)
            if writer.drop_file(index):
                raise _BadPartWay(bad.failed_files[-1]) from exc
            return None
        bad.merge_rows(rows)
        return _file_result(planned, paths, index, count)

    def _local_paths(self, planned: BatchPlanned) -> dict[str, Path]:
        """Resolve a local batch's files in place, confined to the source folder and allowed roots."""
        if planned.source.type != "local":
            raise LoadError(f"{planned.source.type} files must be staged locally before loading")
        try:
            source = LocalSource(planned.source.path, allowed_roots=self._settings.allowed_roots)
        except TerminalError as exc:
            raise LoadError(exc.message) from exc
        paths = {}
        for ref in planned.files:
            try:
                paths[ref.path] = source.resolve(ref.path)
            except TerminalError as exc:
                raise FileLoadError(f"{ref.path}: {exc.message}", file=ref.path) from exc
        return paths

    def _create_table(self, catalog: Catalog, ref: TableRef, schema: pa.Schema, planned: BatchPlanned) -> Table:
        iceberg_schema = assign_fresh_schema_ids(tables.iceberg_schema_of(tables.all_optional(schema)))
        spec = writes.partition_spec(iceberg_schema, writes.requested_partitioning(planned))
        catalog.create_namespace_if_not_exists(ref.database)
        try:
            table = catalog.create_table(
                (ref.database, ref.table),
                schema=iceberg_schema,
                partition_spec=spec,
                properties=tables.NO_INTERNAL_RETRY,
            )
        except TableAlreadyExistsError:
            return catalog.load_table((ref.database, ref.table))
        log.info("created table", extra={"table": ref.identifier, "tenant_id": ref.tenant_id})
        return table

    @staticmethod
    def _without_internal_retry(table: Table) -> Table:
        # Tables created elsewhere may let PyIceberg re-apply an append after a lost race, which
        # could write a batch twice; we retry ourselves after re-checking the batch id.
        if table.metadata.properties.get("commit.retry.num-retries") == "0":
            return table
        with table.transaction() as tx:
            tx.set_properties(tables.NO_INTERNAL_RETRY)
        return table

    def _preview(
        self, planned: BatchPlanned, files: Mapping[str, sampling.SampleFile], sample_rows: int, now: datetime
    ) -> PreviewSampleReply:
        ref = TableRef.of(planned.tenant_id, planned.destination)
        table = self._load_or_none(self._catalog(ref), ref)
        return sampling.preview(planned, files, table, sample_rows=sample_rows, now=now)

    # --- queries -----------------------------------------------------------------------------

    def _drop_table(self, ref: TableRef) -> bool:
        catalog = self._catalog(ref)
        try:
            catalog.purge_table((ref.database, ref.table))
        except (NoSuchTableError, NoSuchNamespaceError):
            return False
        log.info("dropped table", extra={"table": ref.identifier, "tenant_id": ref.tenant_id})
        return True

    def _table_info(self, ref: TableRef) -> dict[str, Any]:
        info: dict[str, Any] = tables.describe_table(self._existing(ref), identifier=ref.identifier)
        return info

    def _table_sample(self, ref: TableRef, limit: int, columns: list[str] | None) -> list[dict[str, Any]]:
        table = self._existing(ref)
        names = table.schema().column_names
        unknown = [c for c in columns or [] if c not in names]
        if unknown:
            raise ValidationFailed(
                [FieldError("columns", f"unknown column {c!r}; the table has: {', '.join(names)}") for c in unknown]
            )
        selected = tuple(columns) if columns else ("*",)
        rows = table.scan(selected_fields=selected, limit=max(1, min(limit, MAX_SAMPLE_ROWS))).to_arrow()
        return [tables.jsonable(row) for row in rows.to_pylist()]

    def _existing(self, ref: TableRef) -> Table:
        table = self._load_or_none(self._catalog(ref), ref)
        if table is None:
            raise NotFoundError(f"table {ref.identifier} does not exist yet: run the ingestion first")
        return table

    # --- catalogs ----------------------------------------------------------------------------

    def _catalog(self, ref: TableRef) -> Catalog:
        connection = self._user_catalogs(ref.tenant_id, ref.catalog)
        # A changed registration (new token, URI) has a new fingerprint: never a stale catalog.
        key = (ref.tenant_id, ref.catalog, connection.fingerprint if connection is not None else "")
        with self._lock:
            catalog = self._catalogs.get(key)
        if catalog is None:
            catalog = open_catalog(connection) if connection is not None else self._builtin_catalog(ref)
            with self._lock:
                kept = self._catalogs.setdefault(key, catalog)
            if kept is not catalog and isinstance(catalog, SqlCatalog):
                catalog.engine.dispose()  # another thread opened it meanwhile
            catalog = kept
        return catalog

    def _builtin_catalog(self, ref: TableRef) -> SqlCatalog:
        try:
            warehouse = warehouse_location(self._settings.warehouse_uri, ref.tenant_id, ref.catalog)
            uri = sqlalchemy_url(self._settings.database_url)
        except ValueError as exc:
            raise LoadError(str(exc)) from exc
        name = catalog_name(ref.tenant_id, ref.catalog)
        try:
            return SqlCatalog(name, uri=uri, warehouse=warehouse)
        except SQLAlchemyError:
            # Two loaders creating the catalog tables at once: the loser finds them on a second try.
            return SqlCatalog(name, uri=uri, warehouse=warehouse)

    @staticmethod
    def _load_or_none(catalog: Catalog, ref: TableRef) -> Table | None:
        try:
            return catalog.load_table((ref.database, ref.table))
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    @staticmethod
    def _guarded(function: Any, *args: Any) -> Any:
        with _translated_errors():
            return function(*args)


MAX_TOGETHER_FILES = 2_000
MAX_TOGETHER_BYTES = 32 * 1024 * 1024
"""A run of small files parsed together holds at most this many files and bytes."""


def _read_groups(planned: BatchPlanned, skip: set[str | None]) -> Iterator[list[int]]:
    """The batch's file indexes (but ``skip``) in order: runs of small JSON-lines files, others alone."""
    run: list[int] = []
    run_bytes = 0
    for index, ref in enumerate(planned.files):
        if ref.path in skip:
            continue
        if not reads_together(planned.format, ref.path, ref.size):
            if run:
                yield run
                run, run_bytes = [], 0
            yield [index]
            continue
        if run and (len(run) >= MAX_TOGETHER_FILES or run_bytes + ref.size > MAX_TOGETHER_BYTES):
            yield run
            run, run_bytes = [], 0
        run.append(index)
        run_bytes += ref.size
    if run:
        yield run


def _file_result(planned: BatchPlanned, paths: Mapping[str, Path], index: int, rows: int) -> FileResult:
    path = planned.files[index].path
    return FileResult(path=path, rows=rows, bytes=paths[path].stat().st_size)


class _BadPartWay(Exception):
    """A file turned out unreadable after some of its rows were staged: the batch is redone without it."""

    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn SQLAlchemy / PyIceberg / OS errors into our Terminal / Transient types."""
    try:
        with catalog_errors("the Iceberg catalog"):  # a user's REST catalog: before OSError catches requests'
            yield
    except (TerminalError, TransientError):
        raise
    except DBAPIError as exc:
        if exc.connection_invalidated or "connect" in str(exc.orig).lower():
            raise TransientError(f"the Iceberg catalog database is unreachable: {exc.orig}") from exc
        raise TransientError(f"the Iceberg catalog database failed: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise TransientError(f"the Iceberg catalog failed: {exc}") from exc
    except ValueError as exc:
        # PyIceberg reports unsupported types and invalid schemas/specs as ValueError.
        raise LoadError(f"the data cannot be written to Iceberg: {exc}") from exc
    except PermissionError as exc:
        raise TerminalError(f"the warehouse is not writable ({exc}); fix AUTOLOADER_WAREHOUSE permissions") from exc
    except OSError as exc:
        bucket = missing_bucket(exc)
        if bucket is not None:  # no retry brings a bucket into being: the catalog's warehouse is wrong
            raise TerminalError(
                f"the warehouse bucket {bucket!r} does not exist: create it, or fix the catalog's warehouse"
            ) from exc
        raise TransientError(f"warehouse I/O failed ({exc}); retrying") from exc
