"""Schema versions of an ingestion: ``/api/v1/ingestions/{id}/schema-versions``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from autoloader_api.commands import IngestionCommands
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import ResolveSchemaVersion, SchemaVersionOut, SchemaVersionPage
from autoloader_api.tenants import Caller
from autoloader_api.views import schema_version_from_row


class SchemaVersionController(Controller):
    """List detected schema changes and resolve a pending one."""

    path = "/ingestions/{ingestion_id:str}/schema-versions"
    tags = ["schema versions"]

    @get("/", summary="Schema versions, newest first")
    async def list(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        ingestion_id: FromPath[str],
        limit: Annotated[int, bounded(1, 500, "page size")] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> SchemaVersionPage:
        """Every schema change the loader detected, with its diff, files and resolution; ``limit`` 1..500."""
        await reads.ingestion(caller.tenant_id, ingestion_id)
        page = await reads.list_schema_versions(caller.tenant_id, ingestion_id, limit=limit, cursor=cursor)
        return SchemaVersionPage(items=[schema_version_from_row(r) for r in page.rows], next_cursor=page.next_cursor)

    @post("/{version:int}/resolve", status_code=200, summary="Resolve a pending schema version")
    async def resolve(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        reads: NamedDependency[ReadModels],
        ingestion_id: FromPath[str],
        version: FromPath[int],
        data: JSONBody[ResolveSchemaVersion],
    ) -> SchemaVersionOut:
        """``auto_merge`` or ``ignore`` the change; the ingestion is active again and the next run loads the files.

        409 when the version is not pending.
        """
        await commands.resolve_schema_version(caller, ingestion_id, version, data.action)
        return schema_version_from_row(await reads.schema_version(caller.tenant_id, ingestion_id, version))
