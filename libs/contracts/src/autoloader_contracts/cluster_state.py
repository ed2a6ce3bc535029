"""Fold the cluster aggregate's events into its current state (shared by every service)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from autoloader_contracts.cluster import ClusterState
from autoloader_contracts.events import ClusterRegistered, ClusterRemoved, ClusterUpdated, Event
from autoloader_core.ids import deterministic_id


def apply(state: ClusterState | None, event: Event, seq: int) -> ClusterState | None:
    """Return the state after ``event`` (stored at stream sequence ``seq``)."""
    if isinstance(event, ClusterRegistered):
        return ClusterState(
            id=event.aggregate_id,
            tenant_id=event.tenant_id,
            status="active",
            config=event.config,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            version=seq,
        )
    if state is None:
        return None
    if isinstance(event, ClusterUpdated):
        return msgspec.structs.replace(state, config=event.config, updated_at=event.occurred_at, version=seq)
    if isinstance(event, ClusterRemoved):
        return msgspec.structs.replace(state, status="removed", updated_at=event.occurred_at, version=seq)
    return msgspec.structs.replace(state, version=seq)


def fold(history: Iterable[tuple[int, Event]]) -> ClusterState | None:
    """Fold ``(seq, event)`` pairs, oldest first, into the current state (``None`` if never registered)."""
    state: ClusterState | None = None
    for seq, event in history:
        state = apply(state, event, seq)
    return state


def embedded_cluster_id(tenant_id: str) -> str:
    """The id of the tenant's embedded cluster (the same on every call, in every process).

    The api registers it on the tenant's first ingestion; a preview names it before that.
    """
    return deterministic_id("clu", tenant_id, "embedded")
