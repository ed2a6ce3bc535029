"""One :class:`~autoloader_loader.engine.LoaderEngine` that sends each batch to its ingestion's cluster.

Batches of ingestions on the embedded cluster load in this process; batches of ingestions on a
Spark Connect cluster go through a Spark session. One :class:`~autoloader_loader.spark.engine.
SparkConnectEngine` does both (it *is* the embedded engine plus Spark), so both write through the
same catalogs: with the ``staged`` strategy redelivery checks and table queries need no cluster
(and open no session).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from autoloader_contracts.events import BatchPlanned
from autoloader_contracts.rpc import PreviewSampleReply
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import BatchResult, TableRef
from autoloader_loader.sampling import SampleFile
from autoloader_loader.spark.engine import SparkConnectEngine
from autoloader_loader.spark.session import ClusterTarget

ResolveCluster = Callable[[str, str | None], Awaitable[ClusterTarget | None]]
"""``(tenant_id, cluster_id) -> the Spark cluster, or None for the embedded engine``."""


class EngineRouter:
    """Routes batches by cluster; answers table questions from the shared catalog.

    Args:
        engine: The engine: embedded loads (its inherited methods) and Spark loads (``load_on``).
        resolve: Finds the cluster a batch names (the loader passes ``ClusterDirectory.target``).
    """

    def __init__(self, engine: SparkConnectEngine, resolve: ResolveCluster) -> None:
        self.spark = engine
        self.embedded: EmbeddedEngine = engine
        self._resolve = resolve

    async def find_committed(self, planned: BatchPlanned) -> BatchResult | None:
        """See :meth:`LoaderEngine.find_committed`: the loader's catalog, or the cluster's own (``native``)."""
        native = await self._native_cluster(TableRef.of(planned.tenant_id, planned.destination, planned.cluster_id))
        if native is None:
            return await self.embedded.find_committed(planned)
        return await self.spark.native_find_committed(native, planned)

    async def reads_in_place(self, planned: BatchPlanned) -> bool:
        """See :meth:`LoaderEngine.reads_in_place`."""
        target = await self._resolve(planned.tenant_id, planned.cluster_id)
        if target is None:
            return await self.embedded.reads_in_place(planned)
        return planned.source.type == "local" or self.spark.reads_in_place_on(target, planned)

    async def load_batch(self, planned: BatchPlanned, staged: Mapping[str, Path] | None = None) -> BatchResult:
        """Load through the batch's cluster (see :meth:`LoaderEngine.load_batch`)."""
        target = await self._resolve(planned.tenant_id, planned.cluster_id)
        if target is None:
            return await self.embedded.load_batch(planned, staged)
        return await self.spark.load_on(target, planned, staged)

    async def drop_table(self, ref: TableRef) -> bool:
        """See :meth:`LoaderEngine.drop_table`."""
        if (native := await self._native_cluster(ref)) is not None:
            return await self.spark.native_drop_table(native, ref)
        return await self.embedded.drop_table(ref)

    async def table_info(self, ref: TableRef) -> dict[str, Any]:
        """See :meth:`LoaderEngine.table_info`."""
        if (native := await self._native_cluster(ref)) is not None:
            return await self.spark.native_table_info(native, ref)
        return await self.embedded.table_info(ref)

    async def table_sample(self, ref: TableRef, *, limit: int, columns: list[str] | None) -> list[dict[str, Any]]:
        """See :meth:`LoaderEngine.table_sample`."""
        if (native := await self._native_cluster(ref)) is not None:
            return await self.spark.native_table_sample(native, ref, limit=limit, columns=columns)
        return await self.embedded.table_sample(ref, limit=limit, columns=columns)

    async def preview(
        self, planned: BatchPlanned, files: Mapping[str, SampleFile], *, sample_rows: int, now: datetime
    ) -> PreviewSampleReply:
        """See :meth:`LoaderEngine.preview`: read in this process (no Spark session is opened for a preview)."""
        reply = await self.embedded.preview(planned, files, sample_rows=sample_rows, now=now)
        native = await self._native_cluster(TableRef.of(planned.tenant_id, planned.destination, planned.cluster_id))
        if native is None:
            return reply
        note = "the table lives in the cluster's own catalog; the schema comparison is against the loader's catalog"
        return msgspec.structs.replace(reply, warnings=[*reply.warnings, note])

    async def _native_cluster(self, ref: TableRef) -> ClusterTarget | None:
        """The cluster whose own catalog holds ``ref`` (``native`` strategy); None: the loader's catalog."""
        if ref.cluster_id is None:
            return None
        target = await self._resolve(ref.tenant_id, ref.cluster_id)
        return target if target is not None and target.commit_strategy == "native" else None

    async def close(self) -> None:
        """Stop Spark sessions and release the catalogs' connections."""
        await self.spark.close()
