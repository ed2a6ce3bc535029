"""Event handlers of the loader: BatchPlanned -> load -> BatchLoaded | BatchFailed; IngestionDeleted.

Outcomes follow one policy: a load that retrying cannot fix becomes a ``BatchFailed`` event and
the message is acknowledged; a transient failure is redelivered with backoff until the last
attempt, which also becomes ``BatchFailed`` (so the run can always complete).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from autoloader_bus.consumer import Delivery
from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import (
    BatchFailed,
    BatchLoaded,
    BatchPlanned,
    IngestionCreated,
    IngestionDeleted,
    IngestionUpdated,
    RunError,
    SchemaChange,
    SchemaChangeDetected,
    TableDropped,
    TableDropRequested,
)
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_contracts.rpc import SettleBatchReply, SettleBatchRequest
from autoloader_core.errors import AutoloaderError, ConflictError, NotFoundError, TerminalError, TransientError
from autoloader_core.ids import deterministic_id
from autoloader_core.metrics import Instruments
from autoloader_core.settings import Settings
from autoloader_core.telemetry import process_telemetry
from autoloader_loader import faults
from autoloader_loader.engine import (
    BatchResult,
    DetectedChange,
    LoaderEngine,
    LoadError,
    NeedsLocalCopies,
    SchemaChangeError,
    TableRef,
)
from autoloader_loader.staging import Stager

log = logging.getLogger(__name__)

ACTOR = "service:loader"
SCHEMA_VERSION_ATTEMPTS = 10
SCHEMA_VERSION_BACKOFF_SECONDS = 0.02
T = TypeVar("T")


class LoaderHandlers:
    """Reacts to the events the loader consumes."""

    def __init__(
        self,
        *,
        engine: LoaderEngine,
        store: EventStore,
        settings: Settings,
        stager: Stager,
        instruments: Instruments | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._settings = settings
        self._stager = stager
        self._instruments = instruments or process_telemetry().instruments

    async def handle(self, delivery: Delivery) -> None:
        """Dispatch one delivered event (other event types are acknowledged and ignored)."""
        event = delivery.event
        if isinstance(event, BatchPlanned):
            await self.on_batch_planned(event, delivery)
        elif isinstance(event, IngestionDeleted):
            await self.on_ingestion_deleted(event)
        elif isinstance(event, TableDropRequested):
            await self.on_table_drop_requested(event)

    async def on_table_drop_requested(self, requested: TableDropRequested) -> None:
        """Drop a refresh run's table, once: a redelivery after ``TableDropped`` was appended drops nothing.

        The run loads nothing before ``TableDropped`` exists, so dropping again before it does is harmless.
        """
        history = await self._store.read(requested.tenant_id, "run", requested.aggregate_id)
        if any(isinstance(stored.event, TableDropped) for stored in history):
            return
        ref = TableRef.of(requested.tenant_id, requested.destination, requested.cluster_id)
        existed = await self._engine.drop_table(ref)
        await self._store.append(
            TableDropped(
                event_id=deterministic_id("evt", requested.aggregate_id, "table_dropped"),
                occurred_at=datetime.now(UTC),
                tenant_id=requested.tenant_id,
                aggregate_id=requested.aggregate_id,
                actor=ACTOR,
                correlation_id=requested.correlation_id,
                causation_id=requested.event_id,
                ingestion_id=requested.ingestion_id,
                table=ref.identifier,
                existed=existed,
            )
        )
        log.info(
            "refresh: table dropped",
            extra={"run_id": requested.aggregate_id, "table": ref.identifier, "existed": existed},
        )

    async def give_up(self, delivery: Delivery, exc: Exception) -> None:
        """The consumer gives a message up: a batch that could not be loaded is recorded as failed.

        A refresh's table drop that was given up has no outcome event; discovery's run watchdog
        fails that run.
        """
        if isinstance(delivery.event, BatchPlanned):
            await self._append_failed(delivery.event, _run_error(exc), attempts=delivery.attempt)

    async def settle_batch(self, request: SettleBatchRequest) -> SettleBatchReply:
        """Record the outcome of a batch this service is done with but that has none (watchdog RPC).

        That happens when the loader died on the batch's last delivery, or could not append the
        outcome: the batch's commit is looked for in the table, so a batch that was committed is
        reported loaded (never failed, which would load its files twice on a retry).

        Raises:
            NotFoundError: The batch was never planned.
        """
        history = [stored.event for stored in await self._store.read(request.tenant_id, "batch", request.batch_id)]
        if any(isinstance(event, BatchLoaded) for event in history):
            return SettleBatchReply(outcome="loaded", already_recorded=True)
        if any(isinstance(event, BatchFailed) for event in history):
            return SettleBatchReply(outcome="failed", already_recorded=True)
        planned = next((event for event in history if isinstance(event, BatchPlanned)), None)
        if planned is None:
            raise NotFoundError(f"batch {request.batch_id} was never planned")
        committed = await self._engine.find_committed(planned)
        if committed is not None:
            await self._store.append(_loaded_event(planned, committed))
            return SettleBatchReply(outcome="loaded")
        await self._append_failed(planned, RunError(error_type="batch_abandoned", message=request.reason))
        return SettleBatchReply(outcome="failed")

    async def on_batch_planned(self, planned: BatchPlanned, delivery: Delivery) -> None:
        """Load the batch and record the outcome as an event.

        Raises:
            TransientError: The load may succeed later (on its last delivery the consumer gives
                it up and :meth:`give_up` records the failure).
        """
        await self._fault_before_load(planned)
        try:
            result = await self._timed(self._keeping_alive(delivery, self._load(planned)))
        except TerminalError as exc:
            if isinstance(exc, SchemaChangeError):
                mode = planned.format.schema.evolution_mode
                await self.record_schema_change(planned, DetectedChange(exc.change, mode, "pending"))
            await self._append_failed(planned, _run_error(exc), attempts=delivery.attempt)
            return
        if self._settings.fault == faults.AFTER_COMMIT and not result.already_committed:
            # Crash tests: the batch is committed to Iceberg but neither announced nor acknowledged.
            log.warning("fault injection: exiting after the Iceberg commit", extra={"batch_id": planned.aggregate_id})
            os._exit(137)
        if result.schema_change is not None:
            await self.record_schema_change(planned, result.schema_change)
        await self._store.append(_loaded_event(planned, result))
        if not result.already_committed:
            # Who read the bytes: a cluster reading the store itself moves none through this process.
            self._instruments.source_bytes.add(result.bytes, {"read_by": result.read_by})
        if self._settings.fault == faults.AFTER_ANNOUNCE and not result.already_committed:
            log.warning("fault injection: exiting after BatchLoaded", extra={"batch_id": planned.aggregate_id})
            os._exit(137)
        log.info(
            "batch loaded",
            extra={
                "batch_id": planned.aggregate_id,
                "rows": result.rows,
                "already_committed": result.already_committed,
            },
        )

    async def _timed(self, load: Awaitable[BatchResult]) -> BatchResult:
        """Await ``load``, recording its duration by outcome (loaded, failed, retry)."""
        started = time.monotonic()
        outcome = "retry"
        try:
            result = await load
            outcome = "loaded"
            return result
        except TerminalError:
            outcome = "failed"
            raise
        finally:
            self._instruments.batch_duration.record(time.monotonic() - started, {"outcome": outcome})

    async def _fault_before_load(self, planned: BatchPlanned) -> None:
        """Crash tests: die, fail transiently or dawdle on every delivery of a batch (never set in production)."""
        if self._settings.fault == faults.SLOW_LOAD:
            await asyncio.sleep(faults.SLOW_LOAD_SECONDS)
        if self._settings.fault == faults.EXIT_BEFORE_LOAD:
            log.warning("fault injection: exiting before the load", extra={"batch_id": planned.aggregate_id})
            os._exit(137)
        if self._settings.fault == faults.FAIL_LOAD:
            raise TransientError("fault injection: the object store timed out")

    async def record_schema_change(self, planned: BatchPlanned, detected: DetectedChange) -> None:
        """Record the batch's schema change as the ingestion's next schema version.

        The version number is 1 + the versions already in the ingestion's history, and the append
        expects that history unchanged: two loaders recording changes at once cannot give two
        changes one number (the loser reads the history again and takes the next number).

        Raises:
            TransientError: The ingestion kept changing under every attempt.
        """
        # One version per run and diff: the run's other batches (and redeliveries) add none.
        event_id = deterministic_id("evt", planned.ingestion_id, planned.run_id, _diff_key(detected.change))
        for attempt in range(SCHEMA_VERSION_ATTEMPTS):
            if attempt:
                # Jittered backoff: writers that collided do not collide again in lockstep.
                await asyncio.sleep(random.uniform(0, SCHEMA_VERSION_BACKOFF_SECONDS * attempt))  # noqa: S311 - jitter
            history = await self._store.read(planned.tenant_id, "ingestion", planned.ingestion_id)
            if any(stored.event.event_id == event_id for stored in history):
                return
            version = 1 + sum(isinstance(stored.event, SchemaChangeDetected) for stored in history)
            try:
                await self._store.append(
                    _schema_change_event(planned, detected, event_id=event_id, version=version),
                    expected_version=history[-1].seq if history else 0,
                )
            except ConflictError:
                continue
            log.info(
                "schema change recorded",
                extra={"ingestion_id": planned.ingestion_id, "version": version, "resolution": detected.resolution},
            )
            return
        raise TransientError(f"ingestion {planned.ingestion_id} kept changing while its schema change was recorded")

    async def _load(self, planned: BatchPlanned) -> BatchResult:
        # A redelivered batch that is already in the table needs no download.
        earlier = await self._engine.find_committed(planned)
        if earlier is not None:
            return earlier
        if await self._engine.reads_in_place(planned):
            try:
                return await self._engine.load_batch(planned)
            except NeedsLocalCopies as exc:
                log.info(
                    "loading the batch from local copies", extra={"batch_id": planned.aggregate_id, "reason": str(exc)}
                )
        async with self._stager.stage(planned) as staged:
            return await self._engine.load_batch(planned, staged)

    async def on_ingestion_deleted(self, deleted: IngestionDeleted) -> None:
        """Drop the ingestion's table when the deletion asks for it."""
        if not deleted.delete_table:
            return
        config = await self._config_of(deleted.tenant_id, deleted.aggregate_id)
        if config is None:
            log.warning(
                "deleted ingestion has no destination; nothing to drop",
                extra={"ingestion_id": deleted.aggregate_id},
            )
            return
        destination = config.destination
        dropped = await self._engine.drop_table(TableRef.of(deleted.tenant_id, destination, config.cluster_id))
        log.info(
            "ingestion table dropped" if dropped else "ingestion table was already gone",
            extra={"ingestion_id": deleted.aggregate_id, "table": destination.identifier},
        )

    async def _config_of(self, tenant_id: str, ingestion_id: str) -> IngestionConfig | None:
        # The deleted event does not repeat the configuration: the last created/updated event has it.
        config = None
        for stored in await self._store.read(tenant_id, "ingestion", ingestion_id):
            if isinstance(stored.event, IngestionCreated | IngestionUpdated):
                config = stored.event.config
        return config

    async def _keeping_alive(self, delivery: Delivery, work: Awaitable[T]) -> T:
        """Await ``work`` while telling the server we are still on it (no redelivery mid-load)."""
        interval = max(1.0, self._settings.ack_wait_seconds / 3)

        async def touch() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await delivery.in_progress()
                except Exception:
                    log.warning("could not extend the ack deadline", exc_info=True)

        toucher = asyncio.create_task(touch())
        try:
            return await work
        finally:
            toucher.cancel()

    async def _append_failed(self, planned: BatchPlanned, error: RunError, *, attempts: int = 1) -> None:
        log.error("batch failed", extra={"batch_id": planned.aggregate_id, "error": error.message})
        await self._store.append(
            BatchFailed(
                **_outcome_envelope(planned, "failed"),
                paths=[f.path for f in planned.files],
                error=error,
                attempts=attempts,
            )
        )


def _outcome_envelope(planned: BatchPlanned, outcome: str) -> dict[str, Any]:
    """Fields every outcome event of ``planned`` shares; the id is fixed so a retried append dedupes."""
    return {
        "event_id": deterministic_id("evt", planned.aggregate_id, outcome),
        "occurred_at": datetime.now(UTC),
        "tenant_id": planned.tenant_id,
        "aggregate_id": planned.aggregate_id,
        "actor": ACTOR,
        "correlation_id": planned.run_id,
        "causation_id": planned.event_id,
        "ingestion_id": planned.ingestion_id,
        "run_id": planned.run_id,
    }


def _schema_change_event(
    planned: BatchPlanned, detected: DetectedChange, *, event_id: str, version: int
) -> SchemaChangeDetected:
    return SchemaChangeDetected(
        event_id=event_id,
        occurred_at=datetime.now(UTC),
        tenant_id=planned.tenant_id,
        aggregate_id=planned.ingestion_id,
        actor=ACTOR,
        correlation_id=planned.run_id,
        causation_id=planned.event_id,
        version=version,
        diff=detected.change,
        files=[f.path for f in planned.files],
        run_id=planned.run_id,
        mode=detected.mode,
        resolution=detected.resolution,
    )


def _diff_key(change: SchemaChange) -> str:
    return msgspec.json.encode(change).decode()


def _run_error(exc: Exception) -> RunError:
    if isinstance(exc, LoadError):
        return RunError(error_type=exc.error_type, message=exc.message, file=exc.file, line=exc.line)
    if isinstance(exc, TransientError):
        return RunError(error_type="transient_error", message=f"gave up after repeated failures: {exc.message}")
    if isinstance(exc, AutoloaderError):
        return RunError(error_type="load_error", message=exc.message)
    return RunError(error_type="internal_error", message=f"{type(exc).__name__}: {exc}")


def _loaded_event(planned: BatchPlanned, result: BatchResult) -> BatchLoaded:
    return BatchLoaded(
        **_outcome_envelope(planned, "loaded"),
        files=result.files,
        rows=result.rows,
        bytes=result.bytes,
        snapshot_id=result.snapshot_id,
        table=result.table,
        duration_seconds=result.duration_seconds,
        already_committed=result.already_committed,
        failed_files=result.failed_files,
        rejected_rows=result.rejected_rows,
        row_errors=result.row_errors,
        spark_seconds=result.spark_seconds,
        read_by=result.read_by,
    )
