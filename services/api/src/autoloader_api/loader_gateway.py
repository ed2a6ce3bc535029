"""Questions for other services over NATS request/reply: tables and clusters (loader), previews (discovery, loader)."""

from __future__ import annotations

from typing import Any

from autoloader_bus.connection import Bus
from autoloader_bus.rpc import call, call_typed
from autoloader_contracts.ingestion import DestinationSpec
from autoloader_contracts.rpc import (
    PREVIEW_SAMPLE,
    SELECT_FILES,
    TEST_CATALOG,
    PreviewSampleReply,
    PreviewSampleRequest,
    SelectFilesReply,
    SelectFilesRequest,
    TestCatalogReply,
    TestCatalogRequest,
)
from autoloader_contracts.subjects import rpc_subject

CLUSTER_TEST_TIMEOUT = 40.0
"""How long to wait for a cluster test: the loader's probe gives up after 30 s and reports that."""
CATALOG_TEST_TIMEOUT = 40.0
"""How long to wait for a catalog test: the loader gives a catalog 30 s to answer and reports that."""


class TableGateway:
    """Ask the loader for a table's metadata and sample rows, and to test a cluster.

    Errors come back as our own types (NotFoundError, ValidationFailed, TransientError when the
    loader does not answer) so the problem mapper can render them.
    """

    def __init__(self, bus: Bus, *, timeout: float = 30.0) -> None:
        self._bus = bus
        self._timeout = timeout

    async def info(self, tenant_id: str, destination: DestinationSpec, cluster_id: str | None) -> dict[str, Any]:
        """Return ``{identifier, location, format_version, schema, row_count, snapshots}``.

        ``cluster_id`` is the ingestion's cluster: a ``native`` cluster's catalog holds the table.
        """
        result: dict[str, Any] = await call(
            self._bus,
            rpc_subject("loader", "table_info"),
            _table(tenant_id, destination, cluster_id),
            timeout=self._timeout,
        )
        return result

    async def sample(
        self,
        tenant_id: str,
        destination: DestinationSpec,
        cluster_id: str | None,
        *,
        limit: int,
        columns: list[str] | None,
    ) -> dict[str, Any]:
        """Return ``{rows: [...]}``: up to ``limit`` rows, only ``columns`` when given."""
        request = {**_table(tenant_id, destination, cluster_id), "limit": limit, "columns": columns}
        result: dict[str, Any] = await call(
            self._bus, rpc_subject("loader", "table_sample"), request, timeout=self._timeout
        )
        return result

    async def test_cluster(self, tenant_id: str, cluster_id: str) -> dict[str, Any]:
        """Return the loader's probe report of the cluster (``reachable``, ``error_kind``, ``message``...)."""
        result: dict[str, Any] = await call(
            self._bus,
            rpc_subject("loader", "test_cluster"),
            {"tenant_id": tenant_id, "cluster_id": cluster_id},
            timeout=max(self._timeout, CLUSTER_TEST_TIMEOUT),
        )
        return result

    async def test_catalog(self, tenant_id: str, catalog_id: str) -> TestCatalogReply:
        """Return the loader's check of a registered catalog (a failed check is a reply, not an error).

        Raises:
            TransientError: The loader did not answer.
        """
        request = TestCatalogRequest(tenant_id=tenant_id, catalog_id=catalog_id)
        return await call_typed(
            self._bus, TEST_CATALOG, request, TestCatalogReply, timeout=max(self._timeout, CATALOG_TEST_TIMEOUT)
        )


def _table(tenant_id: str, destination: DestinationSpec, cluster_id: str | None) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "catalog": destination.catalog,
        "database": destination.database,
        "table": destination.table,
        "cluster_id": cluster_id,
    }


PREVIEW_TIMEOUT = 75.0
"""How long to wait for a preview step: the listing gives up after 60 s and reports that."""


class PreviewGateway:
    """Ask discovery which files a run would take, and the loader for a sample of them (nothing is written)."""

    def __init__(self, bus: Bus, *, timeout: float = PREVIEW_TIMEOUT) -> None:
        self._bus = bus
        self._timeout = timeout

    async def select_files(self, request: SelectFilesRequest) -> SelectFilesReply:
        """Discovery's answer (a source failure is a report inside the reply).

        Raises:
            TransientError: Discovery did not answer.
        """
        return await call_typed(self._bus, SELECT_FILES, request, SelectFilesReply, timeout=self._timeout)

    async def preview_sample(self, request: PreviewSampleRequest) -> PreviewSampleReply:
        """The loader's reading of the sample.

        Raises:
            TransientError: The loader did not answer.
            TerminalError: The source refused the credentials.
        """
        return await call_typed(self._bus, PREVIEW_SAMPLE, request, PreviewSampleReply, timeout=self._timeout)
