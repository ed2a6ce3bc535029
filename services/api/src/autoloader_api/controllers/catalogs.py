"""Catalog registry: ``/api/v1/catalogs`` (a tenant's own Iceberg catalogs, ADR 0007)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from autoloader_api.catalog_commands import CatalogCommands
from autoloader_api.catalog_schemas import (
    CatalogConnectionResult,
    CatalogOut,
    CatalogPage,
    CreateCatalog,
    UpdateCatalog,
)
from autoloader_api.domain.source_rules import MASK
from autoloader_api.loader_gateway import TableGateway
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.tenants import Caller
from autoloader_contracts.catalog import CatalogConfig, CatalogState
from autoloader_core.errors import NotFoundError


class CatalogController(Controller):
    """Register, read, change, remove and test catalogs."""

    path = "/catalogs"
    tags = ["catalogs"]

    @get("/", summary="List the tenant's registered catalogs")
    async def list(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        limit: Annotated[int, bounded(1, 200, "page size")] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> CatalogPage:
        """Oldest first. Destinations naming none of these live in the built-in catalog."""
        page = await reads.list_catalogs(caller.tenant_id, limit=limit, cursor=cursor)
        usage = await reads.catalog_usage(caller.tenant_id)
        return CatalogPage(items=[_from_row(row, usage) for row in page.rows], next_cursor=page.next_cursor)

    @post("/", status_code=201, summary="Register a catalog (REST, Glue, Hive or SQL)")
    async def create(
        self,
        *,
        caller: NamedDependency[Caller],
        catalogs: NamedDependency[CatalogCommands],
        data: JSONBody[CreateCatalog],
    ) -> CatalogOut:
        """Validate and register; credentials are stored encrypted and shown only as ``"********"``.

        409 when the name is registered already, or when ingestions write tables under that name
        into the built-in catalog (registering it would move their tables).
        """
        return _from_state(await catalogs.create(caller, data), ingestion_count=0)

    @get("/{catalog_id:str}", summary="One catalog")
    async def get(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        catalog_id: FromPath[str],
    ) -> CatalogOut:
        """Return the catalog; another tenant's or a removed one is 404."""
        row = await _row(reads, caller, catalog_id)
        return _from_row(row, await reads.catalog_usage(caller.tenant_id))

    @put("/{catalog_id:str}", summary="Change a catalog (fields sent are replaced; credentials rotate)")
    async def update(
        self,
        *,
        caller: NamedDependency[Caller],
        catalogs: NamedDependency[CatalogCommands],
        reads: NamedDependency[ReadModels],
        catalog_id: FromPath[str],
        data: JSONBody[UpdateCatalog],
    ) -> CatalogOut:
        """The next batch uses the change; ``credentials`` null removes them."""
        state = await catalogs.update(caller, catalog_id, data)
        usage = await reads.catalog_usage(caller.tenant_id)
        return _from_state(state, ingestion_count=usage.get(state.config.name, 0))

    @delete("/{catalog_id:str}", status_code=204, summary="Remove a catalog no ingestion writes into")
    async def remove(
        self,
        *,
        caller: NamedDependency[Caller],
        catalogs: NamedDependency[CatalogCommands],
        catalog_id: FromPath[str],
    ) -> None:
        """Only the registration goes; the catalog and its tables are untouched. 409 while in use."""
        await catalogs.remove(caller, catalog_id)

    @post("/{catalog_id:str}/test-connection", status_code=200, summary="Check that a catalog answers")
    async def test_connection(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        tables: NamedDependency[TableGateway],
        catalog_id: FromPath[str],
    ) -> CatalogConnectionResult:
        """The loader opens the catalog with the stored credentials, lists its namespaces and checks
        that an ``s3://`` warehouse's bucket exists. A failed check is a 200 report
        (``error_kind`` + ``message``), not an error.
        """
        await _row(reads, caller, catalog_id)
        reply = await tables.test_catalog(caller.tenant_id, catalog_id)
        return CatalogConnectionResult(**msgspec.structs.asdict(reply))


async def _row(reads: ReadModels, caller: Caller, catalog_id: str) -> Mapping[str, Any]:
    row = await reads.find_catalog(caller.tenant_id, catalog_id)
    if row is None:
        raise NotFoundError(f"catalog {catalog_id!r} not found")
    return row


def _from_row(row: Mapping[str, Any], usage: Mapping[str, int]) -> CatalogOut:
    config = msgspec.convert(row["config"], CatalogConfig)
    return _out(config, row, usage.get(config.name, 0))


def _from_state(state: CatalogState, *, ingestion_count: int) -> CatalogOut:
    fields = {"id": state.id, "version": state.version, "created_at": state.created_at, "updated_at": state.updated_at}
    return _out(state.config, fields, ingestion_count)


def _out(config: CatalogConfig, fields: Mapping[str, Any], ingestion_count: int) -> CatalogOut:
    return CatalogOut(
        id=fields["id"],
        name=config.name,
        type=config.type,
        uri=config.uri,
        warehouse=config.warehouse,
        properties=config.properties,
        credentials=dict.fromkeys(config.credential_fields, MASK) if config.credential_ref else None,
        ingestion_count=ingestion_count,
        version=fields["version"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
    )
