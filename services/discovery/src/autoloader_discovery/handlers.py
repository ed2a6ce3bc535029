"""Discovery use cases: start a run, list and claim new files, plan batches, close the run.

Crash safety: every step is either a database transaction or an append with a deterministic
event id, and the order is "record, then publish". A redelivered ``RunRequested`` finds the
run's row and re-publishes the stored plans (deduplicated by event id); a redelivered
``BatchLoaded`` re-runs the completion check, which is computed from the stored state.

Run-control operations (refresh, backfill, reset, forget processed files) are runs too, so the
"one run per ingestion at a time" rule keeps them from racing a load. A refresh run first asks
the loader to drop the table (``TableDropRequested``) and continues when ``TableDropped`` arrives;
forgetting the ledger happens in the same transaction that claims the run's files.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from autoloader_bus.consumer import Delivery
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import IngestionState
from autoloader_contracts.ingestion_state import fold
from autoloader_core.clock import Clock
from autoloader_core.errors import AutoloaderError, TerminalError, TransientError
from autoloader_core.ids import deterministic_id, new_id
from autoloader_discovery.alerts import AlertMonitor
from autoloader_discovery.costs import RunCosting
from autoloader_discovery.domain import Selection, run_status, split_batches, total_spark_seconds
from autoloader_discovery.ledger import AnotherRunActive, Baselines, Ledger, RunRow, RunWork, record_skipped
from autoloader_discovery.scanning import Scanner, chunked, scan_plan

log = logging.getLogger(__name__)

ACTOR = "service:discovery"
SKIPPED_CHUNK = 1000
RESET_REASON = "marked as seen by a reset of the ingestion"


class Discovery:
    """Handles RunRequested, BatchLoaded and BatchFailed."""

    def __init__(
        self,
        *,
        store: EventStore,
        ledger: Ledger,
        scanner: Scanner,
        clock: Clock,
        costing: RunCosting,
        alerts: AlertMonitor,
        baselines: Baselines,
        batch_max_files: int,
        batch_max_bytes: int,
    ) -> None:
        self._store = store
        self._baselines = baselines
        self._ledger = ledger
        self._scanner = scanner
        self._clock = clock
        self._costing = costing
        self._alerts = alerts
        self._batch_max_files = batch_max_files
        self._batch_max_bytes = batch_max_bytes
        self._handlers: dict[type[ev.Event], Callable[[Any, Delivery], Awaitable[None]]] = {
            ev.RunRequested: self.on_run_requested,
            ev.TableDropped: self.on_table_dropped,
            ev.BatchLoaded: lambda event, _: self.on_batch_loaded(event),
            ev.BatchFailed: lambda event, _: self.on_batch_failed(event),
            ev.SchemaChangeDetected: lambda event, _: self._alerts.on_schema_change(event),
            ev.SchemaChangeResolved: lambda event, _: self.on_schema_change_resolved(event),
            ev.IngestionActivated: lambda event, _: self.on_activated(event),
            ev.IngestionCreated: lambda event, _: self.on_activated(event) if event.status == "active" else _nothing(),
        }

    @property
    def alerts(self) -> AlertMonitor:
        """The alert monitor (its periodic check runs beside the consumer)."""
        return self._alerts

    @staticmethod
    def subscribed_types() -> tuple[type[ev.Event], ...]:
        """The event types discovery handles (its consumer's filter)."""
        return (
            ev.RunRequested,
            ev.TableDropped,
            ev.BatchLoaded,
            ev.BatchFailed,
            ev.SchemaChangeDetected,
            ev.SchemaChangeResolved,
            ev.IngestionActivated,
            ev.IngestionCreated,
        )

    async def handle(self, delivery: Delivery) -> None:
        """Dispatch one delivered event (other types are acknowledged and ignored)."""
        handler = self._handlers.get(type(delivery.event))
        if handler is not None:
            await handler(delivery.event, delivery)

    async def give_up(self, delivery: Delivery, exc: Exception) -> None:
        """Record the outcome of a message the consumer gives up, so nothing waits for it forever.

        A run whose request (or table drop) cannot be handled is failed with the reason; an
        activation whose baseline cannot be recorded marks the baseline failed (its runs then
        refuse to load). A batch outcome that cannot be recorded is left to the run watchdog.
        """
        event = delivery.event
        reason = _reason(exc, delivery.attempt)
        # A transient failure on every attempt is, in practice, a source that cannot be reached.
        error_type = "source_unavailable" if isinstance(exc, TransientError) else "run_failed"
        if isinstance(event, ev.RunRequested):
            await self.abandon_run(event, error_type, reason)
        elif isinstance(event, ev.TableDropped):
            requested = await self._request_of(event.aggregate_id, event)
            if requested is not None:
                await self.abandon_run(requested, error_type, reason)
        elif isinstance(event, ev.IngestionActivated) or (
            isinstance(event, ev.IngestionCreated) and event.status == "active"
        ):
            # The activation (and its baseline) could not be handled.
            await self._baselines.mark(
                tenant_id=event.tenant_id, ingestion_id=event.aggregate_id, state="failed", error=reason
            )

    async def apply_outcome(self, outcome: ev.Event) -> None:
        """Apply a batch outcome again (the watchdog, for one whose delivery was given up)."""
        if isinstance(outcome, ev.BatchLoaded):
            await self.on_batch_loaded(outcome)
        elif isinstance(outcome, ev.BatchFailed):
            await self.on_batch_failed(outcome)

    async def republish(self, requested: ev.RunRequested) -> None:
        """Publish the run's stored batch plans again (deduplicated by their event ids)."""
        run = await self._ledger.get_run(requested.aggregate_id)
        if run is not None and run.planned:
            await self._publish_plans(requested, run)

    async def complete_if_done(self, run_id: str, cause: ev.RunEvent | ev.BatchEvent) -> None:
        """Close the run if none of its batches is still planned."""
        await self._complete_if_done(run_id, cause)

    async def abandon_run(self, requested: ev.RunRequested, error_type: str, message: str) -> None:
        """End the run of ``requested`` as failed (or skipped, when it never started) with ``message``."""
        run = await self._ledger.get_run(requested.aggregate_id)
        if run is None:
            await self._append(ev.RunSkipped, requested, run_key="skipped", reason=message)
        elif run.status == "running":
            await self._fail_run(requested, run, error_type, message)

    # --- activation baseline ------------------------------------------------------------------

    async def on_activated(self, event: ev.IngestionEvent) -> None:
        """Start the alert watch; with include_existing_files = false, record every file present now as skipped."""
        state = await self._ingestion(event.tenant_id, event.aggregate_id)
        if state is None:
            return
        await self._alerts.on_activated(event, state.config.quality)
        if state.config.discovery.include_existing_files:
            return
        ids = {"tenant_id": event.tenant_id, "ingestion_id": event.aggregate_id}
        await self._baselines.mark(**ids, state="pending")
        reason = "present when the ingestion was activated (include_existing_files is false)"
        try:
            async with await self._scanner.source(event.tenant_id, state.config) as source:
                async for chunk in chunked(source, size=SKIPPED_CHUNK):
                    await self._mark_skipped(event, event.aggregate_id, chunk, reason=reason)
        except TerminalError as exc:
            # Its runs refuse to load until a reset records the files present then (see _baseline_problem).
            log.error(
                "activation baseline not recorded", extra={"ingestion_id": event.aggregate_id, "error": exc.message}
            )
            await self._baselines.mark(**ids, state="failed", error=exc.message)
            return
        await self._baselines.mark(**ids, state="recorded")

    async def _mark_skipped(self, cause: ev.Event, ingestion_id: str, files: list[ev.FileRef], *, reason: str) -> None:
        """Record ``files`` as skipped for good and announce them (``FilesSkipped``, deterministic ids)."""
        if not files:
            return
        baseline_id = deterministic_id("bsl", ingestion_id, cause.event_id)
        seen_at = self._clock.now()
        await record_skipped(
            self._ledger.pool, tenant_id=cause.tenant_id, ingestion_id=ingestion_id, files=files, seen_at=seen_at
        )
        await self._store.append(
            ev.FilesSkipped(
                event_id=deterministic_id("evt", baseline_id, files[0].path, files[-1].path),
                occurred_at=seen_at,
                tenant_id=cause.tenant_id,
                aggregate_id=baseline_id,
                actor=ACTOR,
                correlation_id=cause.correlation_id,
                causation_id=cause.event_id,
                ingestion_id=ingestion_id,
                files=files,
                reason=reason,
            )
        )

    # --- schema versions ---------------------------------------------------------------------

    async def on_schema_change_resolved(self, event: ev.SchemaChangeResolved) -> None:
        """Let the next run retry the files that failed on the schema change that is now resolved."""
        await self._alerts.on_schema_change(event)
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
        state = await self._ingestion(event.tenant_id, event.ingestion_id)
        if run is None:
            run = await self._start(event, state)
            if run is None:
                return
        await self._append(ev.RunStarted, event, run_key="started", occurred_at=run.started_at)
        if not run.planned:
            if state is None:
                await self._fail_run(event, run, "ingestion_missing", "the ingestion no longer exists")
                return
            if await self._waiting_for_table_drop(event, state):
                return
            problem = await self._baseline_problem(event, state)
            if problem is not None:
                await self._fail_run(event, run, "baseline_failed", problem)
                return
            try:
                await self._plan(event, state, run)
            except TerminalError as exc:
                await self._fail_run(event, run, "source_error", exc.message)
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

    async def _baseline_problem(self, event: ev.RunRequested, state: IngestionState) -> str | None:
        """Why the run may not load (the files present at activation are unknown), or None.

        Raises:
            TransientError: The baseline is still being recorded (its activation is retried).
        """
        operation = event.operation
        if state.config.discovery.include_existing_files or (
            operation is not None and (operation.kind == "reset" or not operation.load)
        ):
            return None
        baseline = await self._baselines.get(event.ingestion_id)
        if baseline is None or baseline.state == "recorded":
            return None
        if baseline.state == "pending":
            raise TransientError("the files present at activation are still being recorded; the run waits for them")
        return (
            f"the files present when the ingestion was activated could not be recorded ({baseline.error}), so "
            "existing files cannot be told from new ones and nothing is loaded; fix the source, then reset the "
            "ingestion (POST .../reset marks the files present now as seen) and run it again"
        )

    async def _waiting_for_table_drop(self, event: ev.RunRequested, state: IngestionState) -> bool:
        """A refresh run asks the loader to drop the table first: True while that has not happened."""
        if event.operation is None or not event.operation.drops_table:
            return False
        history = await self._store.read(event.tenant_id, "run", event.aggregate_id)
        if any(isinstance(stored.event, ev.TableDropped) for stored in history):
            return False
        await self._append(
            ev.TableDropRequested,
            event,
            run_key="table_drop_requested",
            destination=state.config.destination,
            cluster_id=state.config.cluster_id,
        )
        log.info("refresh run waits for the table drop", extra={"run_id": event.aggregate_id})
        return True

    async def on_table_dropped(self, event: ev.TableDropped, delivery: Delivery | None = None) -> None:
        """The refresh run's table is gone: plan the run now (as if its request came again)."""
        history = await self._store.read(event.tenant_id, "run", event.aggregate_id)
        requested = next((s.event for s in history if isinstance(s.event, ev.RunRequested)), None)
        if requested is None:
            raise TerminalError(f"run {event.aggregate_id} has no RunRequested event; nothing to continue")
        await self.on_run_requested(requested, delivery)

    async def _plan(self, event: ev.RunRequested, state: IngestionState, run: RunRow) -> None:
        operation = event.operation
        if event.trigger == "retry" and event.retry_of:
            await self._plan_retry(event, state, run, event.retry_of)
            return
        if operation is not None and operation.kind == "reset":
            await self._plan_reset(event, state, run)
            return
        if state.pending_schema_version is None:
            # Files that failed on a schema change since resolved are new again (even if this run
            # was requested before the SchemaChangeResolved event reached us).
            await self._ledger.forget_schema_change_failures(event.ingestion_id)
        forget = operation is not None and operation.forgets_ledger
        if operation is not None and not operation.load:
            await self._claim(event, run, [], Selection(), forget=forget)
            return
        selection = await self._scanner.select(
            tenant_id=event.tenant_id,
            ingestion_id=event.ingestion_id,
            config=state.config,
            now=self._clock.now(),
            plan=scan_plan(
                operation.kind if operation else "next_run",
                window_from=operation.window_from if operation else None,
                window_to=operation.window_to if operation else None,
            ),
        )
        groups = split_batches(selection.new, max_files=self._batch_max_files, max_bytes=self._batch_max_bytes)
        plans = [self._batch_plan(event, state, number, files) for number, files in enumerate(groups, start=1)]
        estimated = await self._costing.estimate(
            event.tenant_id,
            event.ingestion_id,
            state.config,
            bytes_planned=selection.new_bytes,
            files=len(selection.new),
            listed=selection.listed,
            batches=len(plans),
            at=self._clock.now(),
        )
        await self._claim(event, run, plans, selection, forget=forget, estimated_cost=estimated)
        log.info(
            "run planned",
            extra={
                "run_id": run.run_id,
                "listed": selection.listed,
                "new": len(selection.new),
                "batches": len(plans),
            },
        )

    async def _claim(
        self,
        event: ev.RunRequested,
        run: RunRow,
        plans: list[ev.BatchPlanned],
        selection: Selection,
        *,
        forget: bool = False,
        estimated_cost: float | None = None,
        operation_files: int | None = None,
    ) -> None:
        await self._ledger.claim(
            run_id=run.run_id,
            tenant_id=event.tenant_id,
            ingestion_id=event.ingestion_id,
            batches=plans,
            files_listed=selection.listed,
            backlog_files=selection.backlog_files,
            forget=forget,
            estimated_cost=estimated_cost,
            operation_files=operation_files,
        )

    async def _plan_reset(self, event: ev.RunRequested, state: IngestionState, run: RunRow) -> None:
        """Record every file present now (and not in the ledger) as seen; the run loads nothing."""
        selection = await self._scanner.select(
            tenant_id=event.tenant_id,
            ingestion_id=event.ingestion_id,
            config=state.config,
            now=self._clock.now(),
            plan=scan_plan("reset"),
        )
        for start in range(0, len(selection.new), SKIPPED_CHUNK):
            chunk = selection.new[start : start + SKIPPED_CHUNK]
            await self._mark_skipped(event, event.ingestion_id, chunk, reason=RESET_REASON)
        await self._claim(event, run, [], selection, operation_files=len(selection.new))
        await self._baselines.mark(tenant_id=event.tenant_id, ingestion_id=event.ingestion_id, state="recorded")
        log.info("reset: files marked as seen", extra={"run_id": run.run_id, "files": len(selection.new)})

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
        await self._announce_operation(event, run)
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

    async def _announce_operation(self, event: ev.RunRequested, run: RunRow) -> None:
        """Announce the ledger step of a run-control run (before its batches: readers apply them in order)."""
        operation = event.operation
        if operation is None:
            return
        if operation.forgets_ledger:
            await self._append(ev.ProcessedFilesCleared, event, run_key="files_cleared", files=run.operation_files or 0)
        elif operation.kind == "reset":
            await self._append(ev.FilesMarkedSeen, event, run_key="files_marked_seen", files=run.operation_files or 0)

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
        requested = await self._request_of(run.run_id, cause)
        operation = requested.operation if requested is not None else None
        metrics = ev.RunMetrics(
            files_discovered=files_loaded + files_failed,
            files_processed=files_loaded,
            files_failed=files_failed,
            files_skipped=(run.operation_files or 0) if operation is not None and operation.kind == "reset" else 0,
            records_ingested=sum(b["rows"] for b in loaded),
            records_rejected=sum(b.get("rejected_rows", 0) for b in loaded),
            bytes_read=sum(b["bytes"] for b in loaded),
            duration_seconds=round((now - run.started_at).total_seconds(), 3),
            error_count=len(errors),
            backlog_files=run.backlog_files,
            spark_seconds=total_spark_seconds(loaded),
            files_listed=run.files_listed,
            batches=len(batches),
        )
        fail_run = await self._policy(run.run_id) == "fail_run"
        status = (
            "failed"
            if extra_errors
            else run_status(files_loaded, files_failed, rejected_rows=metrics.records_rejected, fail_run=fail_run)
        )
        snapshots = sorted({b["snapshot_id"] for b in loaded if b["snapshot_id"] is not None})
        state = await self._ingestion(cause.tenant_id, cause.ingestion_id)
        cost = None
        if state is not None:
            cost = await self._costing.priced(cause.tenant_id, state.config, metrics, estimated=run.estimated_cost)
        completed = await self._append(
            ev.RunCompleted,
            cause,
            run_key="completed",
            run_id=run.run_id,
            status=status,
            metrics=metrics,
            started_at=run.started_at,
            errors=errors,
            snapshot_ids=snapshots,
            cost=cost,
        )
        work = RunWork(
            bytes_read=metrics.bytes_read,
            duration_seconds=metrics.duration_seconds,
            spark_seconds=metrics.spark_seconds or None,
            batches=metrics.batches,
        )
        await self._ledger.complete_run(run.run_id, now, work=work)
        if state is not None and isinstance(completed, ev.RunCompleted):
            await self._alerts.on_run_completed(completed, state.config.quality)
        log.info("run completed", extra={"run_id": run.run_id, "status": status, "rows": metrics.records_ingested})

    # --- helpers -----------------------------------------------------------------------------

    async def _policy(self, run_id: str) -> str:
        """The run's on_error policy, as its batch plans carry it."""
        plans = await self._ledger.planned_batches(run_id)
        return plans[0].errors.on_error if plans else "skip_file"

    async def _ingestion(self, tenant_id: str, ingestion_id: str) -> IngestionState | None:
        history = await self._store.read(tenant_id, "ingestion", ingestion_id)
        return fold((s.seq, s.event) for s in history)

    async def _request_of(self, run_id: str, cause: ev.RunEvent | ev.BatchEvent) -> ev.RunRequested | None:
        if isinstance(cause, ev.RunRequested):
            return cause
        history = await self._store.read(cause.tenant_id, "run", run_id)
        return next((s.event for s in history if isinstance(s.event, ev.RunRequested)), None)

    async def _append(
        self,
        event_type: type[ev.RunEvent],
        cause: ev.RunEvent | ev.BatchEvent,
        *,
        run_key: str,
        run_id: str | None = None,
        occurred_at: datetime | None = None,
        **fields: Any,
    ) -> ev.RunEvent:
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
        return event


async def _nothing() -> None:
    return None


def _reason(exc: Exception, attempts: int) -> str:
    """What the operator reads about a message given up after ``attempts`` deliveries."""
    message = exc.message if isinstance(exc, AutoloaderError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TerminalError):
        return message
    return f"gave up after {attempts} attempts: {message}"


def _skip_reason(event: ev.RunRequested, state: IngestionState | None) -> str | None:
    if state is None or state.status == "deleted":
        return "the ingestion was deleted"
    if event.trigger == "scheduled" and state.status != "active":
        return f"the ingestion is {state.status}"
    if state.status == "error" and state.pending_schema_version is not None:
        return f"ingestion is in error: resolve schema version {state.pending_schema_version}"
    return None
