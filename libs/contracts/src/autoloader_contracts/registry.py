"""The fold shared by registry aggregates (clusters, catalogs): registered, updated, removed.

Each registry's state Struct has the same fields (``id``, ``tenant_id``, ``status``, ``config``,
``created_at``, ``updated_at``, ``version``) and each registry has one event type for each step,
whose updates carry the whole new ``config``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from autoloader_contracts.events import Event

State = TypeVar("State", bound=msgspec.Struct)


def apply_registry(
    state: State | None,
    event: Event,
    seq: int,
    *,
    state_type: type[State],
    registered: type[Event],
    updated: type[Event],
    removed: type[Event],
) -> State | None:
    """Return the state after ``event`` (stored at stream sequence ``seq``).

    A registration starts afresh, also after a removal (a catalog registered again under its name).
    """
    if isinstance(event, registered):
        config: Any = event.config  # type: ignore[attr-defined]  # every registration carries its config
        return state_type(
            id=event.aggregate_id,
            tenant_id=event.tenant_id,
            status="active",
            config=config,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            version=seq,
        )
    if state is None:
        return None
    if isinstance(event, updated):
        new_config: Any = event.config  # type: ignore[attr-defined]  # an update carries the whole config
        return msgspec.structs.replace(state, config=new_config, updated_at=event.occurred_at, version=seq)
    if isinstance(event, removed):
        return msgspec.structs.replace(state, status="removed", updated_at=event.occurred_at, version=seq)
    return msgspec.structs.replace(state, version=seq)
