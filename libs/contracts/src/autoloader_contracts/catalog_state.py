"""Fold the catalog aggregate's events into its current state (shared by the api and the loader)."""

from __future__ import annotations

from collections.abc import Iterable

from autoloader_contracts.catalog import CatalogState
from autoloader_contracts.events import CatalogRegistered, CatalogRemoved, CatalogUpdated, Event
from autoloader_contracts.registry import apply_registry
from autoloader_core.ids import deterministic_id


def catalog_id(tenant_id: str, name: str) -> str:
    """The id of the tenant's catalog ``name``: the same in every process, so the loader finds it by name."""
    return deterministic_id("cat", tenant_id, name)


def apply(state: CatalogState | None, event: Event, seq: int) -> CatalogState | None:
    """Return the state after ``event`` (stored at stream sequence ``seq``).

    A catalog removed and registered again under its name starts afresh (same id, new history).
    """
    return apply_registry(
        state,
        event,
        seq,
        state_type=CatalogState,
        registered=CatalogRegistered,
        updated=CatalogUpdated,
        removed=CatalogRemoved,
    )


def fold(history: Iterable[tuple[int, Event]]) -> CatalogState | None:
    """Fold ``(seq, event)`` pairs, oldest first, into the current state (``None`` if never registered)."""
    state: CatalogState | None = None
    for seq, event in history:
        state = apply(state, event, seq)
    return state
