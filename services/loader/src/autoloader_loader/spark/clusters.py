"""Which cluster loads a batch: the ingestion's registered cluster, resolved with its decrypted token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from autoloader_bus.event_store import EventStore
from autoloader_contracts.cluster_state import embedded_cluster_id, fold
from autoloader_core.errors import TerminalError
from autoloader_loader.spark.session import ClusterTarget

Credentials = Callable[[str, str | None], Awaitable[dict[str, str] | None]]


class ClusterDirectory:
    """Looks up clusters in the event store (no cache: an updated URL or token applies at once).

    Args:
        store: The event store holding the cluster aggregates.
        credentials: ``(tenant_id, token_ref) -> {"token": ...}`` (the credential store's resolve).
    """

    def __init__(self, store: EventStore, credentials: Credentials) -> None:
        self._store = store
        self._credentials = credentials

    async def target(self, tenant_id: str, cluster_id: str | None) -> ClusterTarget | None:
        """The Spark Connect cluster ``cluster_id`` names, or None for the embedded engine.

        Raises:
            TerminalError: The cluster was removed or never existed, or it has no URL.
            TransientError: NATS or the credential store did not answer.
        """
        if cluster_id is None:
            return None
        history = await self._store.read(tenant_id, "cluster", cluster_id)
        state = fold((s.seq, s.event) for s in history)
        if state is None and cluster_id == embedded_cluster_id(tenant_id):
            return None  # the tenant's embedded cluster, named by a preview before its first ingestion
        if state is None or state.status != "active":
            raise TerminalError(f"cluster {cluster_id!r} does not exist any more; point the ingestion at another")
        config = state.config
        if config.kind != "spark_connect":
            return None
        if not config.url:
            raise TerminalError(f"cluster {config.name!r} has no url; set sc://host:port")
        secret = await self._credentials(tenant_id, config.token_ref) if config.token_ref else None
        return ClusterTarget(
            cluster_id=cluster_id,
            url=config.url,
            token=(secret or {}).get("token"),
            catalog=config.catalog,
            commit_strategy=config.commit_strategy,
            options=dict(config.options),
        )
