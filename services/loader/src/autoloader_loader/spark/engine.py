"""The Spark Connect engine: batches loaded through a user's Spark cluster.

``staged`` strategy (the default, and what CI runs against a real local Spark Connect server):
tables live in the loader's SQL catalog exactly as with the embedded engine; Spark writes each
batch's Parquet files into the table's data folder and the loader commits them with PyIceberg
``add_files`` in one transaction carrying the batch id (:mod:`autoloader_loader.spark.staged`).
Redelivered batches are found by that id before any session is opened.

Files reach Spark in one of two ways (:mod:`autoloader_loader.spark.reading`): the cluster reads
files it can reach itself, or the loader streams them through its connectors as Arrow.

A session is leased from the :class:`~autoloader_loader.spark.session.SessionPool` only once a
batch has work; a failure that broke the connection drops the session so the next batch
reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Transaction
from pyspark.sql.connect.session import SparkSession

from autoloader_contracts.events import BatchPlanned
from autoloader_core.errors import AutoloaderError, TerminalError, TransientError
from autoloader_core.settings import Settings
from autoloader_core.tracing import SpanKind, span
from autoloader_loader import bad_data, lineage
from autoloader_loader.catalogs import CatalogLookup, no_user_catalogs
from autoloader_loader.embedded import COMMIT_BACKOFF_SECONDS, EmbeddedEngine
from autoloader_loader.engine import BatchResult, NeedsLocalCopies, TableRef
from autoloader_loader.spark import errors, native, reading
from autoloader_loader.spark.cluster_read import ClusterRead, NeedsConnector
from autoloader_loader.spark.session import ClusterTarget, SessionPool, arrow_frame
from autoloader_loader.spark.staged import NeedsLoaderPartitioning, SparkStagedTable
from autoloader_loader.streaming import combined

log = logging.getLogger(__name__)

SESSION_ATTEMPTS = 2
"""A batch whose session broke is retried once on a new session before the error reaches the handler."""
NATIVE_COMMIT_ATTEMPTS = 4
"""Conditional appends (``native``) tried while other writers commit first, before the batch is redelivered."""


class SparkConnectEngine(EmbeddedEngine):
    """Loads batches through Spark Connect clusters; tables and queries are the embedded engine's.

    Args:
        settings: The loader's settings (catalog database, warehouse, allowed roots).
        pool: Where sessions come from.
    """

    def __init__(self, settings: Settings, pool: SessionPool, catalogs: CatalogLookup = no_user_catalogs) -> None:
        super().__init__(settings, catalogs=catalogs)  # staged commits go into the registered catalog too
        self.pool = pool

    async def load_on(
        self, target: ClusterTarget, planned: BatchPlanned, staged: Mapping[str, Path] | None = None
    ) -> BatchResult:
        """Load ``planned`` through ``target``'s cluster (see :meth:`LoaderEngine.load_batch`).

        Raises:
            LoadError, TerminalError: As the embedded engine, plus Spark analysis errors and refused tokens.
            TransientError: The cluster is unreachable or dropped the session.
        """
        if target.commit_strategy not in ("native", "staged"):
            raise TerminalError(f"unknown commit strategy {target.commit_strategy!r}; use staged or native")
        load = self._load_native if target.commit_strategy == "native" else self._load_staged
        attributes = {"spark.commit_strategy": target.commit_strategy, "files": len(planned.files)}
        with span("spark load", kind=SpanKind.CLIENT, attributes=attributes):
            return await asyncio.to_thread(self._guarded, load, target, planned, staged)

    async def native_find_committed(self, target: ClusterTarget, planned: BatchPlanned) -> BatchResult | None:
        """The earlier result of ``planned`` in ``target``'s own catalog (``native`` strategy), if committed."""

        def find(session: SparkSession, name: str) -> BatchResult | None:
            if not native.table_exists(session, name):
                return None
            native.refresh(session, name)  # another loader's commit must be seen, not a cached copy
            return native.committed_batch(session, name, planned)

        name = native.table_name(target.catalog, TableRef.of(planned.tenant_id, planned.destination))
        found: BatchResult | None = await self._on_cluster(target, find, name)
        return found

    async def native_table_info(self, target: ClusterTarget, ref: TableRef) -> dict[str, Any]:
        """``table_info`` of a table in ``target``'s own catalog (``native`` strategy)."""
        info: dict[str, Any] = await self._on_cluster(target, native.describe, native.table_name(target.catalog, ref))
        return info

    async def native_table_sample(
        self, target: ClusterTarget, ref: TableRef, *, limit: int, columns: list[str] | None
    ) -> list[dict[str, Any]]:
        """``table_sample`` of a table in ``target``'s own catalog."""
        name = native.table_name(target.catalog, ref)
        rows: list[dict[str, Any]] = await self._on_cluster(
            target, lambda session, table: native.sample(session, table, limit=limit, columns=columns), name
        )
        return rows

    async def native_drop_table(self, target: ClusterTarget, ref: TableRef) -> bool:
        """Drop a table of ``target``'s own catalog; False when it did not exist."""
        dropped: bool = await self._on_cluster(target, native.drop, native.table_name(target.catalog, ref))
        return dropped

    async def _on_cluster(self, target: ClusterTarget, work: Callable[[SparkSession, str], Any], name: str) -> Any:
        def run() -> Any:
            try:
                with self.pool.lease(target, keep_on=errors.keeps_session) as session:
                    return work(session, name)
            except AutoloaderError:
                raise
            except Exception as exc:
                raise errors.translate(exc, url=target.url) from exc

        with span(f"spark {work.__name__}", kind=SpanKind.CLIENT, attributes={"iceberg.table": name}):
            return await asyncio.to_thread(run)

    def reads_in_place_on(self, target: ClusterTarget, planned: BatchPlanned) -> bool:
        """Whether ``target``'s cluster will read the remote batch itself (so no local copies are needed)."""
        return target.commit_strategy == "staged" and reading.choose_reader(planned, target).cluster

    async def close(self) -> None:
        """Stop idle sessions and dispose of the catalogs."""
        await asyncio.to_thread(self.pool.close)
        await super().close()

    def _load_staged(
        self, target: ClusterTarget, planned: BatchPlanned, staged: Mapping[str, Path] | None
    ) -> BatchResult:
        # Nothing to do for a batch already in the table: no session is opened for it.
        earlier = self._find_committed(planned)
        if earlier is not None:
            return earlier
        started = time.monotonic()
        for attempt in range(1, SESSION_ATTEMPTS + 1):
            try:
                result, spark_seconds = self._load_in_session(target, planned, staged)
                break
            except (AutoloaderError, NeedsLocalCopies):
                raise
            except Exception as exc:
                translated = errors.translate(exc, url=target.url)
                # Nothing is committed before Spark's part is done, so a batch whose session broke
                # can start again at once on a fresh session (the pool dropped the broken one).
                if isinstance(translated, TransientError) and attempt < SESSION_ATTEMPTS:
                    log.warning(
                        "spark session failed; retrying the batch on a new session",
                        extra={"batch_id": planned.aggregate_id, "error": translated.message},
                    )
                    continue
                raise translated from exc
        log.info(
            "batch loaded through spark",
            extra={"batch_id": planned.aggregate_id, "cluster_id": target.cluster_id, "spark_seconds": spark_seconds},
        )
        return replace(result, duration_seconds=time.monotonic() - started, spark_seconds=round(spark_seconds, 3))

    def _load_native(
        self, target: ClusterTarget, planned: BatchPlanned, staged: Mapping[str, Path] | None
    ) -> BatchResult:
        """The ``native`` strategy: the cluster's Iceberg catalog commits the batch (see :mod:`.native`)."""
        native.check_write_mode(planned)
        name = native.table_name(target.catalog, TableRef.of(planned.tenant_id, planned.destination))
        started = time.monotonic()
        try:
            with self.pool.lease(target, keep_on=errors.keeps_session) as session:
                state = native.table_state(session, name)
                earlier = native.committed_batch(session, name, planned) if state.exists else None
                if earlier is not None:
                    return earlier
                result = self._write_native(session, name, planned, staged, state)
        except AutoloaderError:
            raise
        except Exception as exc:
            raise errors.translate(exc, url=target.url) from exc
        if result.already_committed:
            return result
        elapsed = time.monotonic() - started
        return replace(result, duration_seconds=elapsed, spark_seconds=round(elapsed, 3))

    def _write_native(
        self,
        session: SparkSession,
        name: str,
        planned: BatchPlanned,
        staged: Mapping[str, Path] | None,
        state: native.TableState,
    ) -> BatchResult:
        paths = staged if staged is not None else self._local_paths(planned)
        bad = bad_data.BadDataLog(planned.errors.on_error)
        parts = native.ArrowParts()
        files = self._read_into(parts, planned, paths, bad, skip=set())
        rows = sum(f.rows for f in files)
        snapshot_id = None
        if rows:
            data = combined([d for _, d in parts.parts])
            if planned.destination.lineage_columns:
                data = lineage.add_lineage(
                    data,
                    results=files,
                    planned_files=planned.files,
                    run_id=planned.run_id,
                    ingested_at=datetime.now(UTC),
                )
            frame = arrow_frame(session, data)
            properties = native.snapshot_properties(planned, files)
            if not state.exists:
                native.ensure_namespace(session, name)
            for attempt in range(1, NATIVE_COMMIT_ATTEMPTS + 1):
                try:
                    native.commit(native.plan_write(frame, name, properties, state), state)
                    break
                except Exception as exc:
                    if not native.lost_race(exc):
                        raise
                # Another writer committed first: this batch, or another one since the check.
                native.refresh(session, name)
                state = native.table_state(session, name)
                earlier = native.committed_batch(session, name, planned) if state.exists else None
                if earlier is not None:
                    return earlier
                if attempt == NATIVE_COMMIT_ATTEMPTS:
                    raise TransientError(f"{name.replace('`', '')}: other writers kept committing first; retrying")
                time.sleep(COMMIT_BACKOFF_SECONDS * attempt)
            committed = native.committed_batch(session, name, planned)
            snapshot_id = committed.snapshot_id if committed is not None else None
        result = BatchResult(
            files=files,
            rows=rows,
            bytes=sum(f.bytes for f in files),
            snapshot_id=snapshot_id,
            table=name.replace("`", ""),
            duration_seconds=0.0,
            read_by="connector",
        )
        return bad.applied_to(result)

    def _load_in_session(
        self, target: ClusterTarget, planned: BatchPlanned, staged: Mapping[str, Path] | None
    ) -> tuple[BatchResult, float]:
        remote = planned.source.type != "local"
        # Files already copied locally are streamed from the copies (the cluster was not able to read them).
        by_cluster = reading.choose_reader(planned, target).cluster and not (remote and staged is not None)
        with self.pool.lease(target, keep_on=errors.keeps_session) as session:
            if by_cluster:
                read = self._read_by_cluster(target, planned, session)
                if read is not None:
                    return read
                if remote and staged is None:
                    raise NeedsLocalCopies(f"the cluster could not read the batch's {planned.source.type} files")
            return self._stream_through(planned, staged, session)

    def _read_by_cluster(
        self, target: ClusterTarget, planned: BatchPlanned, session: SparkSession
    ) -> tuple[BatchResult, float] | None:
        """Let the cluster read the files; None when the batch must be streamed through the connectors."""
        ref = TableRef.of(planned.tenant_id, planned.destination)
        catalog = self._catalog(ref)
        if planned.source.type == "local":
            # The same confinement as every local read: no file outside the allowed roots, no escaping link.
            # Hadoop takes the path as written (no percent-decoding), so no as_uri() here.
            uris = {name: f"file://{path}" for name, path in self._local_paths(planned).items()}
        else:
            uris = {f.path: reading.cluster_uri(planned, f.path) for f in planned.files}
        read = ClusterRead(
            uris=uris,
            planned=planned,
            session=session,
            identifier=ref.identifier,
            table=self._load_or_none(catalog, ref),
            create_table=lambda schema: self._create_table(catalog, ref, schema, planned),
        )
        try:
            result, _ = read.run()
        except (NeedsConnector, NeedsLoaderPartitioning) as exc:
            log.info(
                "streaming the batch through the connectors",
                extra={"batch_id": planned.aggregate_id, "reason": str(exc)},
            )
            return None
        except CommitFailedException:
            earlier = self._find_committed(planned)
            if earlier is None:
                raise TransientError(f"{ref.identifier}: another writer committed first; retrying") from None
            return earlier, read.spark_seconds
        except AutoloaderError:
            raise
        except Exception as exc:
            translated = errors.translate(exc, url=target.url)
            if isinstance(translated, TransientError):
                raise  # the batch starts again on a new session (_load_staged)
            # Spark refused the data (a corrupt file, a malformed row under FAILFAST): the connectors
            # read the batch again and apply the bad-data policy file by file and row by row, with
            # the same errors (file, line) as every other load.
            log.info(
                "the cluster refused the batch's data; streaming it through the connectors",
                extra={"batch_id": planned.aggregate_id, "error": translated.message},
            )
            return None
        return result, read.spark_seconds

    def _stream_through(
        self, planned: BatchPlanned, staged: Mapping[str, Path] | None, session: SparkSession
    ) -> tuple[BatchResult, float]:
        """Read the files with the loader's connectors and send the rows to Spark as Arrow."""
        stages: list[SparkStagedTable] = []

        def stage(transaction: Transaction) -> SparkStagedTable:
            staged_table = SparkStagedTable(transaction, session=session, batch_id=planned.aggregate_id)
            stages.append(staged_table)
            return staged_table

        result = self._load_batch(planned, staged, stage)
        return replace(result, read_by="connector"), sum(s.spark_seconds for s in stages)
