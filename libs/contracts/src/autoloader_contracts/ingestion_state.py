"""Fold the ingestion aggregate's events into its current state.

Shared by every service that needs an ingestion's state (api commands, discovery, scheduler)
so they all agree on what the events mean.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from autoloader_contracts.events import (
    Event,
    IngestionActivated,
    IngestionCreated,
    IngestionDeleted,
    IngestionPaused,
    IngestionResumed,
    IngestionUpdated,
    SchemaChangeDetected,
    SchemaChangeResolved,
)
from autoloader_contracts.ingestion import IngestionState, IngestionStatus

_STATUS_AFTER: dict[type[Event], IngestionStatus] = {
    IngestionActivated: "active",
    IngestionPaused: "paused",
    IngestionResumed: "active",
    IngestionDeleted: "deleted",
}


def apply(state: IngestionState | None, event: Event, seq: int) -> IngestionState | None:
    """Return the state after ``event`` (stored at stream sequence ``seq``)."""
    if isinstance(event, IngestionCreated):
        return IngestionState(
            id=event.aggregate_id,
            tenant_id=event.tenant_id,
            status=event.status,
            config=event.config,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            version=seq,
        )
    if state is None:
        return None
    if isinstance(event, IngestionUpdated):
        return msgspec.structs.replace(state, config=event.config, updated_at=event.occurred_at, version=seq)
    if isinstance(event, SchemaChangeDetected | SchemaChangeResolved):
        return _apply_schema_event(state, event, seq)
    status = _STATUS_AFTER.get(type(event))
    if status is not None:
        return msgspec.structs.replace(state, status=status, updated_at=event.occurred_at, version=seq)
    return msgspec.structs.replace(state, version=seq)


def _apply_schema_event(
    state: IngestionState, event: SchemaChangeDetected | SchemaChangeResolved, seq: int
) -> IngestionState:
    """A pending schema change puts the ingestion in error; resolving it makes it active again."""
    if isinstance(event, SchemaChangeDetected):
        latest = max(state.schema_version, event.version)
        if event.resolution != "pending" or state.status == "deleted":
            return msgspec.structs.replace(state, schema_version=latest, version=seq)
        return msgspec.structs.replace(
            state,
            status="error",
            schema_version=latest,
            pending_schema_version=event.version,
            updated_at=event.occurred_at,
            version=seq,
        )
    if state.pending_schema_version != event.version:
        return msgspec.structs.replace(state, version=seq)
    accepted, ignored = dict(state.accepted_columns), list(state.ignored_columns)
    columns = [(c.name, c.new_type) for c in [*event.diff.added, *event.diff.changed] if c.new_type is not None]
    if event.action == "auto_merge":
        accepted.update(columns)
    else:
        ignored += [c.name for c in event.diff.added if c.name not in ignored]
    return msgspec.structs.replace(
        state,
        status="active",
        pending_schema_version=None,
        accepted_columns=accepted,
        ignored_columns=ignored,
        updated_at=event.occurred_at,
        version=seq,
    )


def fold(history: Iterable[tuple[int, Event]]) -> IngestionState | None:
    """Fold ``(seq, event)`` pairs, oldest first, into the current state (``None`` if never created)."""
    state: IngestionState | None = None
    for seq, event in history:
        state = apply(state, event, seq)
    return state
