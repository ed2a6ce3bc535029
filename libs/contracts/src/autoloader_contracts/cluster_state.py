"""Fold the cluster aggregate's events into its current state (shared by every service)."""

from __future__ import annotations

from collections.abc import Iterable

from autoloader_contracts.cluster import ClusterState
from autoloader_contracts.events import ClusterRegistered, ClusterRemoved, ClusterUpdated, Event
from autoloader_contracts.registry import apply_registry
from autoloader_core.ids import deterministic_id


def apply(state: ClusterState | None, event: Event, seq: int) -> ClusterState | None:
    """Return the state after ``event`` (stored at stream sequence ``seq``)."""
    return apply_registry(
        state,
        event,
        seq,
        state_type=ClusterState,
        registered=ClusterRegistered,
        updated=ClusterUpdated,
        removed=ClusterRemoved,
    )


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
