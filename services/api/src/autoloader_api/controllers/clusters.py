"""Cluster registry: ``/api/v1/clusters`` (where ingestions load: embedded or Spark Connect)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.loader_gateway import TableGateway
from autoloader_api.pagination import bounded
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import ClusterConnectionResult, ClusterOut, ClusterPage, CreateCluster, UpdateCluster
from autoloader_api.tenants import Caller
from autoloader_api.views import cluster_from_row, cluster_from_state
from autoloader_contracts.cluster import ClusterState
from autoloader_contracts.cluster_state import embedded_cluster_id
from autoloader_core.errors import NotFoundError


class ClusterController(Controller):
    """Register, read, change and remove clusters."""

    path = "/clusters"
    tags = ["clusters"]

    @get("/", summary="List clusters (the tenant's embedded cluster first)")
    async def list(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        reads: NamedDependency[ReadModels],
        limit: Annotated[int, bounded(1, 200, "page size")] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ClusterPage:
        """Oldest first; the embedded cluster is registered on the tenant's first request."""
        await clusters.ensure_embedded(caller)
        page = await reads.list_clusters(caller.tenant_id, limit=limit, cursor=cursor)
        usage = await _usage(reads, caller)
        items = [cluster_from_row(r, ingestion_count=usage.get(r["id"], 0)) for r in page.rows]
        return ClusterPage(items=items, next_cursor=page.next_cursor)

    @post("/", status_code=201, summary="Register a Spark Connect cluster")
    async def create(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        data: JSONBody[CreateCluster],
    ) -> ClusterOut:
        """Validate and register; the token is stored encrypted and shown only as ``"********"``."""
        return cluster_from_state(await clusters.create(caller, data), ingestion_count=0)

    @get("/{cluster_id:str}", summary="One cluster")
    async def get(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        reads: NamedDependency[ReadModels],
        cluster_id: FromPath[str],
    ) -> ClusterOut:
        """Return the cluster; another tenant's or a deleted one is 404."""
        await clusters.ensure_embedded(caller)
        row = await reads.find_cluster(caller.tenant_id, cluster_id)
        if row is None:
            raise NotFoundError(f"cluster {cluster_id!r} not found")
        usage = await _usage(reads, caller)
        return cluster_from_row(row, ingestion_count=usage.get(cluster_id, 0))

    @put("/{cluster_id:str}", summary="Change a cluster (fields sent are replaced; a token rotates it)")
    async def update(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        reads: NamedDependency[ReadModels],
        cluster_id: FromPath[str],
        data: JSONBody[UpdateCluster],
    ) -> ClusterOut:
        """``token`` omitted or ``"********"`` keeps it, a new value rotates it, null removes it."""
        return await _respond(await clusters.update(caller, cluster_id, data), reads, caller)

    @delete("/{cluster_id:str}", status_code=204, summary="Delete a cluster no ingestion uses")
    async def remove(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        cluster_id: FromPath[str],
    ) -> None:
        """409 for the embedded cluster and for a cluster that ingestions use (the detail says how many)."""
        await clusters.remove(caller, cluster_id)

    @post("/{cluster_id:str}/test-connection", status_code=200, summary="Check that a cluster answers")
    async def test_connection(
        self,
        *,
        caller: NamedDependency[Caller],
        clusters: NamedDependency[ClusterCommands],
        reads: NamedDependency[ReadModels],
        tables: NamedDependency[TableGateway],
        cluster_id: FromPath[str],
    ) -> ClusterConnectionResult:
        """The embedded cluster is always reachable; a Spark Connect cluster is probed by the loader.

        The probe connects with the stored token, checks the Spark version, lists the catalogs and
        times a small query. A failed check is a 200 report (``error_kind`` + ``message``), not an error.
        """
        await clusters.ensure_embedded(caller)
        row = await reads.find_cluster(caller.tenant_id, cluster_id)
        if row is None:
            raise NotFoundError(f"cluster {cluster_id!r} not found")
        if row["kind"] == "embedded":
            return ClusterConnectionResult(
                reachable=True, kind="embedded", message="the embedded engine runs inside the loader service"
            )
        report = await tables.test_cluster(caller.tenant_id, cluster_id)
        return ClusterConnectionResult(
            reachable=bool(report.get("reachable")),
            kind=str(report.get("kind") or row["kind"]),
            message=str(report.get("message") or ""),
            authenticated=report.get("authenticated"),
            spark_version=report.get("spark_version"),
            catalogs=report.get("catalogs") if report.get("spark_version") else None,
            catalog_found=report.get("catalog_found"),
            round_trip_ms=report.get("round_trip_ms"),
            error_kind=report.get("error_kind"),
        )


async def _usage(reads: ReadModels, caller: Caller) -> dict[str, int]:
    return await reads.cluster_usage(caller.tenant_id, default_cluster_id=embedded_cluster_id(caller.tenant_id))


async def _respond(state: ClusterState, reads: ReadModels, caller: Caller) -> ClusterOut:
    usage = await _usage(reads, caller)
    return cluster_from_state(state, ingestion_count=usage.get(state.id, 0))
