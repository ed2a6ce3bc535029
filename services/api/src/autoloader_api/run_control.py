"""Run control: full and new-only refresh, backfill, reset to now, forget processed files.

Each operation is a run (``RunRequested`` with an ``operation``), so the one-run-at-a-time rule
keeps it from racing a load, and the run's events are its audit trail: discovery and the loader
perform the steps (drop the table, forget the ledger, mark files seen) before any file loads.
A dry run asks discovery which files the run would take and changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from autoloader_api.commands import IngestionCommands
from autoloader_api.costing import CostEstimator, RunSize
from autoloader_api.loader_gateway import PreviewGateway
from autoloader_api.preview_schemas import Impact, Operation, OperationAccepted, OperationDryRun
from autoloader_api.queries import ReadModels
from autoloader_api.tenants import Caller
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import IngestionState
from autoloader_contracts.rpc import SelectFilesReply, SelectFilesRequest
from autoloader_core.clock import Clock
from autoloader_core.errors import ConfirmationRequired, ConflictError, FieldError, ValidationFailed
from autoloader_core.ids import new_id

STEP_WAIT_SECONDS = 5.0
"""How long an accepted operation waits for its first steps to be done before answering (then: pending)."""

_TRIGGERS: dict[str, ev.RunTrigger] = {
    "refresh_full": "refresh",
    "refresh_new_only": "refresh",
    "backfill": "backfill",
    "reset": "reset",
    "forget_files": "forget",
}
_STEP_EVENTS: dict[str, type[ev.RunEvent]] = {
    "table_dropped": ev.TableDropped,
    "processed_files_cleared": ev.ProcessedFilesCleared,
    "files_marked_seen": ev.FilesMarkedSeen,
}
_STEP_DETAILS = {
    "table_dropped": "drop the destination table {table} and its files",
    "processed_files_cleared": "forget the file ledger: every file counts as new again",
    "files_marked_seen": "record every file present now as seen; none of them will load",
    "run_triggered": "run the ingestion",
}


@dataclass(frozen=True)
class Request:
    """One run-control request, as the routes receive it."""

    kind: ev.RunOperationKind
    confirm: bool
    dry_run: bool
    load: bool = True
    window_from: datetime | None = None
    window_to: datetime | None = None


class RunControl:
    """The run-control use cases."""

    def __init__(
        self,
        *,
        commands: IngestionCommands,
        store: EventStore,
        reads: ReadModels,
        gateway: PreviewGateway,
        costs: CostEstimator,
        clock: Clock,
        projection_timeout: float = 5.0,
    ) -> None:
        self._commands = commands
        self._store = store
        self._reads = reads
        self._gateway = gateway
        self._costs = costs
        self._clock = clock
        self._timeout = projection_timeout

    async def perform(self, caller: Caller, ingestion_id: str, request: Request) -> OperationAccepted | OperationDryRun:
        """Check, then perform (or, with ``dry_run``, only describe) the operation.

        Raises:
            NotFoundError: No such ingestion.
            ConfirmationRequired: Neither ``confirm`` nor ``dry_run`` is true.
            ValidationFailed: A backfill window is missing or empty.
            ConflictError: A run of the ingestion is queued or running.
        """
        state = await self._commands.state(caller, ingestion_id)
        _check(request)
        active = await self._reads.active_run(caller.tenant_id, ingestion_id)
        if active is not None:
            raise ConflictError(
                f"run {active['id']} of this ingestion is {active['status']}; wait until it finishes and try again"
            )
        impact = await self._impact(caller, state, request)
        steps = _steps(request)
        if request.dry_run:
            return OperationDryRun(would_perform=[_step(name, "planned", state) for name in steps], impact=impact)
        run_id = await self._request_run(caller, state, request)
        done = await self._wait_for_steps(caller.tenant_id, run_id, [s for s in steps if s in _STEP_EVENTS])
        operations = [_step(name, "completed" if name in done else "pending", state) for name in steps]
        return OperationAccepted(operations=operations, impact=impact, run_id=run_id if request.load else None)

    async def _impact(self, caller: Caller, state: IngestionState, request: Request) -> Impact:
        selection = await self._gateway.select_files(
            SelectFilesRequest(
                tenant_id=caller.tenant_id,
                config=state.config,
                ingestion_id=state.id,
                mode=request.kind,
                window_from=request.window_from,
                window_to=request.window_to,
                first=0,
            )
        )
        if not request.load:
            skipped = selection.marked_seen if request.kind == "reset" else 0
            return Impact(
                files_to_process=0,
                files_skipped=skipped,
                bytes_to_process=0,
                estimated_rows=0,
                estimated_cost=0.0,
                estimated_duration_seconds=0.0,
                files_are_lower_bound=selection.count_is_lower_bound,
                message=selection.message,
            )
        size = RunSize(bytes=selection.bytes, files=selection.count, listed=selection.listed)
        estimate = await self._costs.estimate(caller, state.config, size, ingestion_id=state.id)
        return Impact(
            files_to_process=selection.count,
            files_skipped=_skipped(selection, request),
            bytes_to_process=selection.bytes,
            estimated_rows=await self._rows(caller.tenant_id, state.id, selection.bytes),
            estimated_cost=round(estimate.compute_per_run + estimate.discovery_per_run, 6),
            estimated_duration_seconds=estimate.estimated_duration_seconds,
            files_are_lower_bound=selection.count_is_lower_bound,
            message=selection.message,
        )

    async def _rows(self, tenant_id: str, ingestion_id: str, size: int) -> int | None:
        """Rows for ``size`` bytes at the rows per byte of the ingestion's past runs (None without any)."""
        if size == 0:
            return 0
        samples = await self._reads.rows_per_byte(tenant_id, ingestion_id)
        return None if samples is None else round(samples * size)

    async def _request_run(self, caller: Caller, state: IngestionState, request: Request) -> str:
        run_id = new_id("run")
        event = ev.RunRequested(
            **caller.envelope(run_id, now=self._clock.now(), correlation_id=run_id),
            ingestion_id=state.id,
            trigger=_TRIGGERS[request.kind],
            operation=ev.RunOperation(
                kind=request.kind, load=request.load, window_from=request.window_from, window_to=request.window_to
            ),
        )
        seq = await self._store.append(event, expected_version=0)
        await self._reads.wait_projected(seq, timeout=self._timeout)
        return run_id

    async def _wait_for_steps(self, tenant_id: str, run_id: str, steps: list[str]) -> set[str]:
        """The steps done within :data:`STEP_WAIT_SECONDS` (they go on in the background after that)."""
        wanted = {_STEP_EVENTS[name]: name for name in steps}
        done: set[str] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_WAIT_SECONDS
        while len(done) < len(wanted) and loop.time() < deadline:
            history = await self._store.read(tenant_id, "run", run_id)
            done = {name for s in history for kind, name in wanted.items() if isinstance(s.event, kind)}
            if len(done) < len(wanted):
                await asyncio.sleep(0.1)
        return done


def _check(request: Request) -> None:
    if request.kind == "backfill":
        _check_window(request.window_from, request.window_to)
    if not (request.confirm or request.dry_run):
        raise ConfirmationRequired(
            [
                FieldError(
                    "confirm",
                    "this operation changes the table or the file ledger; send confirm: true to perform it, "
                    "or dry_run: true to see what it would do",
                )
            ]
        )


def _check_window(start: datetime | None, end: datetime | None) -> None:
    errors = [
        FieldError(name, f"{name} is required (an RFC 3339 time)")
        for name, v in (("from", start), ("to", end))
        if v is None
    ]
    if not errors and start is not None and end is not None and start >= end:
        errors.append(FieldError("to", "to must be later than from (the window is [from, to))"))
    if errors:
        raise ValidationFailed(errors)


def _steps(request: Request) -> list[str]:
    steps = []
    if request.kind in ("refresh_full", "refresh_new_only"):
        steps.append("table_dropped")
    if request.kind in ("refresh_full", "forget_files"):
        steps.append("processed_files_cleared")
    if request.kind == "reset":
        steps.append("files_marked_seen")
    if request.load:
        steps.append("run_triggered")
    return steps


def _step(name: str, status: str, state: IngestionState) -> Operation:
    details = _STEP_DETAILS[name].format(table=state.config.destination.identifier)
    return Operation(
        operation=name,
        status="completed" if name == "run_triggered" and status != "planned" else status,
        details=details,
    )


def _skipped(selection: SelectFilesReply, request: Request) -> int:
    """Files the run leaves alone: known ones it will not load again (new-only, next runs), the backlog."""
    if request.kind == "refresh_full":
        return selection.backlog_files
    return selection.already_known + selection.backlog_files
