"""The destination table of an ingestion (answered by the loader)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from autoloader_api.loader_gateway import TableGateway
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.tenants import Caller
from autoloader_contracts.ingestion import DestinationSpec
from autoloader_core.errors import FieldError, ValidationFailed

SAMPLE_MAX = 10_000


class TableController(Controller):
    """``/api/v1/ingestions/{id}/table``."""

    path = "/ingestions/{ingestion_id:str}/table"
    tags = ["tables"]

    @get("/", summary="Schema, row count and snapshots of the destination table")
    async def table(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        tables: NamedDependency[TableGateway],
        ingestion_id: FromPath[str],
    ) -> dict[str, Any]:
        """404 when the table does not exist yet (before the first load)."""
        destination, cluster_id = await _destination(reads, caller, ingestion_id)
        return await tables.info(caller.tenant_id, destination, cluster_id)

    @get("/sample", summary="Sample rows of the destination table")
    async def sample(
        self,
        *,
        caller: NamedDependency[Caller],
        reads: NamedDependency[ReadModels],
        tables: NamedDependency[TableGateway],
        ingestion_id: FromPath[str],
        limit: Annotated[int, bounded(1, SAMPLE_MAX, "rows")] = 100,
        columns: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Up to ``limit`` rows (1..10,000); ``columns=a,b`` selects columns."""
        if not 1 <= limit <= SAMPLE_MAX:
            raise ValidationFailed(
                [FieldError("limit", f"limit must be between 1 and {SAMPLE_MAX}, got {limit}")]
            )
        destination, cluster_id = await _destination(reads, caller, ingestion_id)
        return await tables.sample(caller.tenant_id, destination, cluster_id, limit=limit, columns=_columns(columns))


async def _destination(reads: ReadModels, caller: Caller, ingestion_id: str) -> tuple[DestinationSpec, str | None]:
    """The ingestion's destination and cluster (the loader asks a native cluster's catalog)."""
    row = await reads.ingestion(caller.tenant_id, ingestion_id)
    config = row["config"]
    return msgspec.convert(config["destination"], DestinationSpec), config.get("cluster_id")


def _columns(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise ValidationFailed(
            [FieldError("columns", "columns must name at least one column, e.g. 'id,name'")]
        )
    return names
