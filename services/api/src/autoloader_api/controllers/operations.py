"""Run control: refresh, backfill, reset to now, forget processed files (``/ingestions/{id}/...``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from autoloader_api.preview_schemas import BackfillIn, OperationAccepted, OperationDryRun, RunControlIn
from autoloader_api.run_control import Request, RunControl
from autoloader_api.tenants import Caller
from autoloader_contracts.events import RunOperationKind

ACCEPTED = 202
DRY_RUN = 200
DRY_RUN_ANSWER = {DRY_RUN: ResponseSpec(OperationDryRun, description="dry run: what would happen, nothing done")}


class RunControlController(Controller):
    """Destructive operations need ``confirm: true``; ``dry_run: true`` only says what would happen."""

    path = "/ingestions/{ingestion_id:str}"
    tags = ["run control"]

    @post(
        "/refresh/full",
        status_code=ACCEPTED,
        responses=DRY_RUN_ANSWER,
        summary="Drop the table, forget the ledger, run: everything loads again",
    )
    async def refresh_full(
        self,
        *,
        caller: NamedDependency[Caller],
        control: NamedDependency[RunControl],
        ingestion_id: FromPath[str],
        data: JSONBody[RunControlIn],
    ) -> Response[OperationAccepted | OperationDryRun]:
        """202 with the operations, their impact and the run; a dry run is 200 with ``would_perform``."""
        return await _perform(control, caller, ingestion_id, _request("refresh_full", data))

    @post(
        "/refresh/new-only",
        status_code=ACCEPTED,
        responses=DRY_RUN_ANSWER,
        summary="Drop the table, keep the ledger: only files never loaded load",
    )
    async def refresh_new_only(
        self,
        *,
        caller: NamedDependency[Caller],
        control: NamedDependency[RunControl],
        ingestion_id: FromPath[str],
        data: JSONBody[RunControlIn],
    ) -> Response[OperationAccepted | OperationDryRun]:
        """Files already loaded are never loaded again; files not loaded yet load in the triggered run."""
        return await _perform(control, caller, ingestion_id, _request("refresh_new_only", data))

    @post(
        "/backfill",
        status_code=ACCEPTED,
        responses=DRY_RUN_ANSWER,
        summary="Load the files modified in [from, to) that are not loaded yet",
    )
    async def backfill(
        self,
        *,
        caller: NamedDependency[Caller],
        control: NamedDependency[RunControl],
        ingestion_id: FromPath[str],
        data: JSONBody[BackfillIn],
    ) -> Response[OperationAccepted | OperationDryRun]:
        """Also files skipped at activation or by a reset; the incremental state is not disturbed."""
        request = Request(
            kind="backfill", confirm=data.confirm, dry_run=data.dry_run, window_from=data.from_, window_to=data.to
        )
        return await _perform(control, caller, ingestion_id, request)

    @post(
        "/reset",
        status_code=ACCEPTED,
        responses=DRY_RUN_ANSWER,
        summary="Mark every file present now as seen: nothing of it will load",
    )
    async def reset(
        self,
        *,
        caller: NamedDependency[Caller],
        control: NamedDependency[RunControl],
        ingestion_id: FromPath[str],
        data: JSONBody[RunControlIn],
    ) -> Response[OperationAccepted | OperationDryRun]:
        """Later runs load only files that arrive (or change) after the reset."""
        request = Request(kind="reset", confirm=data.confirm, dry_run=data.dry_run, load=False)
        return await _perform(control, caller, ingestion_id, request)

    @delete(
        "/processed-files",
        status_code=ACCEPTED,
        responses=DRY_RUN_ANSWER,
        summary="Forget processed files: the next run loads everything",
    )
    async def forget_files(
        self,
        *,
        caller: NamedDependency[Caller],
        control: NamedDependency[RunControl],
        ingestion_id: FromPath[str],
        confirm: FromQuery[bool] = False,
        dry_run: FromQuery[bool] = False,
        data: JSONBody[RunControlIn | None] = None,
    ) -> Response[OperationAccepted | OperationDryRun]:
        """``confirm``/``dry_run`` in the body or the query; the table keeps its rows."""
        body = data or RunControlIn()
        request = Request(
            kind="forget_files", confirm=confirm or body.confirm, dry_run=dry_run or body.dry_run, load=False
        )
        return await _perform(control, caller, ingestion_id, request)


def _request(kind: RunOperationKind, data: RunControlIn) -> Request:
    return Request(kind=kind, confirm=data.confirm, dry_run=data.dry_run, load=data.auto_run)


async def _perform(control: RunControl, caller: Caller, ingestion_id: str, request: Request) -> Response[Any]:
    answer = await control.perform(caller, ingestion_id, request)
    return Response(answer, status_code=DRY_RUN if isinstance(answer, OperationDryRun) else ACCEPTED)
