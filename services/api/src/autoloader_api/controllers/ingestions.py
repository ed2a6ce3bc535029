"""Ingestion commands and queries: ``/api/v1/ingestions``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from autoloader_api.commands import IngestionCommands
from autoloader_api.connection_check import check_source_connection
from autoloader_api.local_folders import LocalFolders
from autoloader_api.pagination import bounded
from autoloader_api.presenter import IngestionPresenter
from autoloader_api.queries import IngestionFilter, ReadModels
from autoloader_api.schemas import (
    CheckConnection,
    ConnectionResult,
    CreateIngestion,
    IngestionOut,
    IngestionPage,
    RunAccepted,
    UpdateIngestion,
)
from autoloader_api.tenants import Caller
from autoloader_core.settings import Settings


class IngestionController(Controller):
    """Create, read, change and run ingestions."""

    path = "/ingestions"
    tags = ["ingestions"]

    @post("/", status_code=201, summary="Create an ingestion (draft, or active with activate: true)")
    async def create(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        presenter: NamedDependency[IngestionPresenter],
        data: JSONBody[CreateIngestion],
    ) -> IngestionOut:
        """Validate and create; nothing is stored when validation fails (422 with field errors)."""
        return await presenter.outcome(caller, await commands.create(caller, data))

    @get("/", summary="List ingestions")
    async def list(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        presenter: NamedDependency[IngestionPresenter],
        status: FromQuery[str | None] = None,
        source_type: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        sort: FromQuery[str] = "-created_at",
        limit: Annotated[int, bounded(1, 200, "page size")] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> IngestionPage:
        """Filter by status, source type and name (``q``, case-insensitive); sort; paginate by cursor."""
        query = IngestionFilter(
            status=status, source_type=source_type, q=q, sort=sort, limit=limit, cursor=cursor
        )
        page = await reads.list_ingestions(caller.tenant_id, query)
        return IngestionPage(items=await presenter.many(caller, page.rows), next_cursor=page.next_cursor)

    @post(
        "/test-connection",
        status_code=200,
        summary="Check a source: reachable, authorised, matching files and their size",
    )
    async def test_connection(
        self,
        *,
        caller: NamedDependency[Caller],
        settings: NamedDependency[Settings],
        folders: NamedDependency[LocalFolders],
        data: JSONBody[CheckConnection],
    ) -> ConnectionResult:
        """List the source with the credentials sent (not stored); a failure is a report, not an error.

        Takes ``{source: {...}}`` or a whole create body (only ``source`` is used). An invalid
        source, or another tenant's local folder, is 422 with field errors, and nothing is contacted.
        """

        async def folder_check(folder: Path) -> None:
            await folders.check(caller.tenant_id, folder)

        return await check_source_connection(data, allowed_roots=settings.allowed_roots, folder_check=folder_check)

    @get("/{ingestion_id:str}", summary="One ingestion with its metadata")
    async def get(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        presenter: NamedDependency[IngestionPresenter],
        ingestion_id: FromPath[str],
    ) -> IngestionOut:
        """Return the ingestion; another tenant's or a deleted one is 404."""
        return await presenter.one(caller, await reads.ingestion(caller.tenant_id, ingestion_id))

    @put("/{ingestion_id:str}", summary="Change an ingestion (sections sent are replaced)")
    async def update(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        presenter: NamedDependency[IngestionPresenter],
        ingestion_id: FromPath[str],
        data: JSONBody[UpdateIngestion],
    ) -> IngestionOut:
        """source/format/destination may change only while the ingestion is a draft (else 409)."""
        return await presenter.outcome(caller, await commands.update(caller, ingestion_id, data))

    @delete("/{ingestion_id:str}", status_code=204, summary="Delete an ingestion")
    async def remove(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        ingestion_id: FromPath[str],
        delete_table: FromQuery[bool] = False,
    ) -> None:
        """Delete; afterwards the ingestion is 404. ``delete_table`` also drops its table."""
        await commands.delete(caller, ingestion_id, delete_table=delete_table)

    @post("/{ingestion_id:str}/activate", status_code=200, summary="draft -> active")
    async def activate(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        presenter: NamedDependency[IngestionPresenter],
        ingestion_id: FromPath[str],
    ) -> IngestionOut:
        """Start scheduled runs of a draft."""
        return await presenter.outcome(caller, await commands.transition(caller, ingestion_id, "activate"))

    @post("/{ingestion_id:str}/pause", status_code=200, summary="active -> paused")
    async def pause(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        presenter: NamedDependency[IngestionPresenter],
        ingestion_id: FromPath[str],
    ) -> IngestionOut:
        """Stop scheduled runs until resumed."""
        return await presenter.outcome(caller, await commands.transition(caller, ingestion_id, "pause"))

    @post("/{ingestion_id:str}/resume", status_code=200, summary="paused -> active")
    async def resume(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        presenter: NamedDependency[IngestionPresenter],
        ingestion_id: FromPath[str],
    ) -> IngestionOut:
        """Restart scheduled runs."""
        return await presenter.outcome(caller, await commands.transition(caller, ingestion_id, "resume"))

    @post("/{ingestion_id:str}/run", status_code=202, summary="Run now")
    async def run(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        ingestion_id: FromPath[str],
    ) -> RunAccepted:
        """Request a manual run; follow it at ``.../runs/{run_id}``."""
        return RunAccepted(run_id=await commands.request_run(caller, ingestion_id))
