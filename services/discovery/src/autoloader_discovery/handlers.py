"""Discovery use cases: start a run, list and claim new files, plan batches, close the run.

Crash safety: every step is either a database transaction or an append with a deterministic
event id, and the order is "record, then publish". A redelivered ``RunRequested`` finds the
run's row and re-publishes the stored plans (deduplicated by event id); a redelivered
``BatchLoaded`` re-runs the completion check, which is computed from the stored state.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from autoloader_bus.consumer import Delivery
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import IngestionState
from autoloader_contracts.ingestion_state import fold
from autoloader_core.clock import Clock
from autoloader_core.errors import TerminalError, TransientError
from autoloader_core.ids import deterministic_id, new_id
from autoloader_discovery.domain import run_status, split_batches, total_spark_seconds
from autoloader_discovery.ledger import AnotherRunActive, Ledger, RunRow, record_skipped
from autoloader_discovery.scanning import Scanner, chunked

log = logging.getLogger(__name__)

ACTOR = "service:discovery"
SKIPPED_CHUNK = 1000


class Discovery:
    """Handles RunRequested, BatchLoaded and BatchFailed."""

    def __init__(
        self,
        *,
        store: EventStore,
        ledger: Ledger,
        scanner: Scanner,
        clock: Clock,
        batch_max_files: int,
        batch_max_bytes: int,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._scanner = scanner
        self._clock = clock
        self._batch_max_files = batch_max_files
        self._batch_max_bytes = batch_max_bytes

    async def handle(self, delivery: Delivery) -> None:
        """Dispatch one delivered event."""
        event = delivery.event
        if isinstance(event, ev.RunRequested):
            await self.on_run_requested(event, delivery)
        elif isinstance(event, ev.BatchLoaded):
            await self.on_batch_loaded(event)
        elif isinstance(event, ev.BatchFailed):
            await self.on_batch_failed(event)
        elif isinstance(event, ev.SchemaChangeResolved):
            await self.on_schema_change_resolved(event)
        elif isinstance(event, ev.IngestionActivated) or (
            isinstance(event, ev.IngestionCreated) and event.status == "active"
        ):
            await self.on_activated(event)

    # --- activation baseline ------------------------------------------------------------------

    async def on_activated(self, event: ev.IngestionEvent) -> None:
        """With include_existing_files = false, record every file present now as skipped for good."""
        history = await self._store.read(event.tenant_id, "ingestion", event.aggregate_id)
        state = fold((s.seq, s.event) for s in history)
        if state is None or state.config.discovery.include_existing_files:
            return
        baseline_id = deterministic_id("bsl", event.aggregate_id, event.event_id)
        seen_at = self._clock.now()
        try:
            async with await self._scanner.source(event.tenant_id, state.config) as source:
                async for chunk in chunked(source, size=SKIPPED_CHUNK):
                    await record_skipped(
                        self._ledger.pool,
                        tenant_id=event.tenant_id,
                        ingestion_id=event.aggregate_id,
                        files=chunk,
                        seen_at=seen_at,
                    )
                    await self._store.append(
                        ev.FilesSkipped(
                            event_id=deterministic_id("evt", baseline_id, chunk[0].path, chunk[-1].path),
                            occurred_at=seen_at,
                            tenant_id=event.tenant_id,
                            aggregate_id=baseline_id,
                            actor=ACTOR,
                            correlation_id=event.correlation_id,
                            causation_id=event.event_id,
                            ingestion_id=event.aggregate_id,
                            files=chunk,
                            reason="present when the ingestion was activated (include_existing_files is false)",
                        )
                    )
        except TerminalError as exc:
            # Nothing to skip if the source cannot be listed; the first run will report the cause.
            log.warning(
                "activation baseline not recorded", extra={"ingestion_id": event.aggregate_id, "error": exc.message}
            )

    # --- schema versions ---------------------------------------------------------------------

    async def on_schema_change_resolved(self, event: ev.SchemaChangeResolved) -> None:
        """Let the next run retry the files that failed on the schema change that is now resolved."""
        forgotten = await self._ledger.forget_schema_change_failures(event.aggregate_id)
        log.info(
            "schema change resolved: failed files will be retried",
            extra={"ingestion_id": event.aggregate_id, "version": event.version, "files": forgotten},
        )

    # --- RunRequested ------------------------------------------------------------------------

    async def on_run_requested(self, event: ev.RunRequested, delivery: Delivery | None = None) -> None:
        """Start the run (or skip it), plan its batches and publish them."""
        run = await self._ledger.get_run(event.aggregate_id)
        if run is not None and run.status == "completed":
            return
        history = await self._store.read(event.tenant_id, "ingestion", event.ingestion_id)
        state = fold((s.seq, s.event) for s in history)
        if run is None:
            run = await self._start(event, state)
            if run is None:
                return
        await self._append(ev.RunStarted, event, run_key="started", occurred_at=run.started_at)
        if not run.planned:
            if state is None:
                await self._fail_run(event, run, "ingestion_missing", "the ingestion no longer exists")
                return
            try:
                await self._plan(event, state, run)
            except TerminalError as exc:
                await self._fail_run(event, run, "source_error", exc.message)
                return
            except TransientError as exc:
                if delivery is None or not delivery.is_last_attempt:
                    raise
                await self._fail_run(event, run, "source_unavailable", exc.message)
                return
            run = await self._ledger.get_run(event.aggregate_id) or run
        await self._publish_plans(event, run)

    async def _start(self, event: ev.RunRequested, state: IngestionState | None) -> RunRow | None:
        reason = _skip_reason(event, state)
        if reason is None:
            try:
                await self._ledger.start_run(
                    run_id=event.aggregate_id,
                    tenant_id=event.tenant_id,
                    ingestion_id=event.ingestion_id,
                    trigger=event.trigger,
                    started_at=self._clock.now(),
                    correlation_id=event.correlation_id,
                )
            except AnotherRunActive as exc:
                reason = f"another run of this ingestion is active ({exc.run_id})"
        if reason is not None:
            await self._append(ev.RunSkipped, event, run_key="skipped", reason=reason)
            return None
        return await self._ledger.get_run(event.aggregate_id)

    async def _plan(self, event: ev.RunRequested, state: IngestionState, run: RunRow) -> None:
        if event.trigger == "retry" and event.retry_of:
            await self._plan_retry(event, state, run, event.retry_of)
            return
        if state.pending_schema_version is None:
            # Files that failed on a schema change since resolved are new again (even if this run
            # was requested before the SchemaChangeResolved event reached us).
            await self._ledger.forget_schema_change_failures(event.ingestion_id)
        selection = await self._scanner.select(
            tenant_id=event.tenant_id, ingestion_id=event.ingestion_id, config=state.config, now=self._clock.now()
        )
        groups = split_batches(selection.new, max_files=self._batch_max_files, max_bytes=self._batch_max_bytes)
        plans = [self._batch_plan(event, state, number, files) for number, files in enumerate(groups, start=1)]
        await self._ledger.claim(
            run_id=run.run_id,
            tenant_id=event.tenant_id,
            ingestion_id=event.ingestion_id,
            batches=plans,
            files_listed=selection.listed,
            backlog_files=selection.backlog_files,
        )
        log.info(
            "run planned",
            extra={
                "run_id": run.run_id,
                "listed": selection.listed,
                "new": len(selection.new),
                "batches": len(plans),
            },
        )

    async def _plan_retry(self, event: ev.RunRequested, state: IngestionState, run: RunRow, retry_of: str) -> None:
        """Plan only the failed files of run ``retry_of`` (no listing), re-claiming them for this run."""
        files, gone = await self._scanner.failed_files(tenant_id=event.tenant_id, config=state.config, run_id=retry_of)
        groups = split_batches(files, max_files=self._batch_max_files, max_bytes=self._batch_max_bytes)
        plans = [self._batch_plan(event, state, number, group) for number, group in enumerate(groups, start=1)]
        await self._ledger.claim(
            run_id=run.run_id,
            tenant_id=event.tenant_id,
            ingestion_id=event.ingestion_id,
            batches=plans,
            files_listed=len(files),
            backlog_files=0,
            retry_of=retry_of,
        )
        log.info(
            "retry planned",
            extra={"run_id": run.run_id, "retry_of": retry_of, "files": len(files), "gone": len(gone)},
        )

    def _batch_plan(
        self, event: ev.RunRequested, state: IngestionState, number: int, files: list[ev.FileRef]
    ) -> ev.BatchPlanned:
        batch_id = new_id("bat")
        return ev.BatchPlanned(
            event_id=deterministic_id("evt", batch_id, "planned"),
            occurred_at=self._clock.now(),
            tenant_id=event.tenant_id,
            aggregate_id=batch_id,
            actor=ACTOR,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            ingestion_id=event.ingestion_id,
            run_id=event.aggregate_id,
            batch_number=number,
            files=files,
            source=state.config.source,
            format=state.config.format,
            destination=state.config.destination,
            errors=state.config.errors,
            accepted_columns=state.accepted_columns,
            ignored_columns=state.ignored_columns,
            cluster_id=state.config.cluster_id,
            read_files=state.config.engine.read_files,
        )

    async def _publish_plans(self, event: ev.RunRequested, run: RunRow) -> None:
        plans = await self._ledger.planned_batches(run.run_id)
        await self._append(
            ev.FilesDiscovered,
            event,
            run_key="files_discovered",
            files_listed=run.files_listed,
            files_new=sum(len(p.files) for p in plans),
            bytes_new=sum(f.size for p in plans for f in p.files),
            backlog_files=run.backlog_files,
            batch_ids=[p.aggregate_id for p in plans],
        )
        for plan in plans:
            await self._store.append(plan)
        if not plans:
            await self._complete_if_done(run.run_id, event)

    # --- batch outcomes ----------------------------------------------------------------------

    async def on_batch_loaded(self, event: ev.BatchLoaded) -> None:
        """Record a committed batch in the ledger and close the run when it was the last one."""
        await self._ledger.batch_loaded(
            batch_id=event.aggregate_id,
            rows_by_path={f.path: f.rows for f in event.files},
            rows=event.rows,
            size=event.bytes,
            snapshot_id=event.snapshot_id,
            failed_files=event.failed_files,
            rejected_rows=event.rejected_rows,
            row_errors=event.row_errors,
            spark_seconds=event.spark_seconds,
        )
        await self._complete_if_done(event.run_id, event)

    async def on_batch_failed(self, event: ev.BatchFailed) -> None:
        """Record a failed batch and close the run when it was the last one."""
        await self._ledger.batch_failed(batch_id=event.aggregate_id, error=event.error)
        await self._complete_if_done(event.run_id, event)

    async def _complete_if_done(self, run_id: str, cause: ev.RunEvent | ev.BatchEvent) -> None:
        run = await self._ledger.get_run(run_id)
        if run is None or run.status != "running":
            return
        batches = (await self._ledger.batch_summary(run_id))["batches"]
        if any(b["state"] == "planned" for b in batches):
            return
        await self._complete(run, cause, batches, extra_errors=[])

    async def _fail_run(self, cause: ev.RunRequested, run: RunRow, error_type: str, message: str) -> None:
        error = ev.RunError(error_type=error_type, message=message)
        await self._complete(run, cause, [], extra_errors=[error])

    async def _complete(
        self,
        run: RunRow,
        cause: ev.RunEvent | ev.BatchEvent,
        batches: list[dict[str, Any]],
        *,
        extra_errors: list[ev.RunError],
    ) -> None:
        now = self._clock.now()
        loaded = [b for b in batches if b["state"] == "loaded"]
        failed = [b for b in batches if b["state"] == "failed"]
        errors = [ev.RunError(**b["error"]) for b in failed if b["error"]]
        errors += [ev.RunError(**e) for b in loaded for e in b.get("bad_data") or []] + extra_errors
        # Files a loaded batch left out under on_error=skip_file count as failed, not processed.
        left_out = sum(b.get("files_failed", 0) for b in loaded)
        files_loaded = sum(b["files"] for b in loaded) - left_out
        files_failed = sum(b["files"] for b in failed) + left_out
        metrics = ev.RunMetrics(
            files_discovered=files_loaded + files_failed,
            files_processed=files_loaded,
            files_failed=files_failed,
            records_ingested=sum(b["rows"] for b in loaded),
            records_rejected=sum(b.get("rejected_rows", 0) for b in loaded),
            bytes_read=sum(b["bytes"] for b in loaded),
            duration_seconds=round((now - run.started_at).total_seconds(), 3),
            error_count=len(errors),
            backlog_files=run.backlog_files,
            spark_seconds=total_spark_seconds(loaded),
        )
        fail_run = await self._policy(run.run_id) == "fail_run"
        status = (
            "failed"
            if extra_errors
            else run_status(files_loaded, files_failed, rejected_rows=metrics.records_rejected, fail_run=fail_run)
        )
        snapshots = sorted({b["snapshot_id"] for b in loaded if b["snapshot_id"] is not None})
        await self._append(
            ev.RunCompleted,
            cause,
            run_key="completed",
            run_id=run.run_id,
            status=status,
            metrics=metrics,
            started_at=run.started_at,
            errors=errors,
            snapshot_ids=snapshots,
        )
        await self._ledger.complete_run(run.run_id, now)
        log.info("run completed", extra={"run_id": run.run_id, "status": status, "rows": metrics.records_ingested})

    # --- helpers -----------------------------------------------------------------------------

    async def _policy(self, run_id: str) -> str:
        """The run's on_error policy, as its batch plans carry it."""
        plans = await self._ledger.planned_batches(run_id)
        return plans[0].errors.on_error if plans else "skip_file"

    async def _append(
        self,
        event_type: type[ev.RunEvent],
        cause: ev.RunEvent | ev.BatchEvent,
        *,
        run_key: str,
        run_id: str | None = None,
        occurred_at: datetime | None = None,
        **fields: Any,
    ) -> None:
        run_id = run_id or (cause.run_id if isinstance(cause, ev.BatchEvent) else cause.aggregate_id)
        event = event_type(
            event_id=deterministic_id("evt", run_id, run_key),
            occurred_at=occurred_at or self._clock.now(),
            tenant_id=cause.tenant_id,
            aggregate_id=run_id,
            actor=ACTOR,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            ingestion_id=cause.ingestion_id,
            **fields,
        )
        await self._store.append(event)


def _skip_reason(event: ev.RunRequested, state: IngestionState | None) -> str | None:
    if state is None or state.status == "deleted":
        return "the ingestion was deleted"
    if event.trigger == "scheduled" and state.status != "active":
        return f"the ingestion is {state.status}"
    if state.status == "error" and state.pending_schema_version is not None:
        return f"ingestion is in error: resolve schema version {state.pending_schema_version}"
    return None
