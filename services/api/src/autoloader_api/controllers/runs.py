"""Run history and the file ledger of an ingestion."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from autoloader_api.commands import IngestionCommands
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import FilePage, RunAccepted, RunOut, RunPage
from autoloader_api.tenants import Caller
from autoloader_api.views import file_from_row, run_from_row
from autoloader_core.clock import Clock


class RunController(Controller):
    """``/api/v1/ingestions/{id}/runs`` and ``/files``."""

    path = "/ingestions/{ingestion_id:str}"
    tags = ["runs"]

    @get("/runs", summary="Run history, newest first")
    async def runs(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        clock: NamedDependency[Clock],
        ingestion_id: FromPath[str],
        days: Annotated[int, bounded(1, 3650, "days back")] = 30,
        limit: Annotated[int, bounded(1, 500, "page size")] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> RunPage:
        """Runs requested in the last ``days`` days (1..3650); ``limit`` 1..500."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        page = await reads.list_runs(
            caller.tenant_id, ingestion_id, days=days, limit=limit, cursor=cursor, now=clock.now()
        )
        return RunPage(items=[run_from_row(r) for r in page.rows], next_cursor=page.next_cursor)

    @get("/runs/{run_id:str}", summary="One run with metrics, errors and per-file results")
    async def run(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        ingestion_id: FromPath[str],
        run_id: FromPath[str],
    ) -> RunOut:
        """Return the run and the ledger entries of its files."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        row = await reads.run(caller.tenant_id, ingestion_id, run_id)
        files = [file_from_row(f) for f in await reads.run_files(caller.tenant_id, run_id)]
        return run_from_row(row, files)

    @post("/runs/{run_id:str}/retry", status_code=202, summary="Retry only the failed files of a finished run")
    async def retry(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        ingestion_id: FromPath[str],
        run_id: FromPath[str],
    ) -> RunAccepted:
        """Request a run (``trigger: retry``) over the run's failed files; 409 if none failed or it is running."""
        return RunAccepted(run_id=await commands.retry_run(caller, ingestion_id, run_id))

    @get("/files", summary="The file ledger")
    async def files(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        ingestion_id: FromPath[str],
        file_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, bounded(1, 1000, "page size")] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> FilePage:
        """Files seen by this ingestion, most recently seen first; filter by ``state``."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        page = await reads.list_files(
            caller.tenant_id, ingestion_id, state=file_state, limit=limit, cursor=cursor
        )
        return FilePage(items=[file_from_row(r) for r in page.rows], next_cursor=page.next_cursor)
