"""Which commands an ingestion accepts in which status (SPEC §3 state transitions)."""

from __future__ import annotations

from typing import Literal

from autoloader_contracts.ingestion import IMMUTABLE_AFTER_DRAFT, IngestionConfig, IngestionState
from autoloader_core.errors import ConflictError, NotFoundError

Transition = Literal["activate", "pause", "resume"]

ALLOWED_FROM: dict[Transition, frozenset[str]] = {
    "activate": frozenset({"draft"}),
    "pause": frozenset({"active"}),
    "resume": frozenset({"paused"}),
}

_HINTS: dict[tuple[Transition, str], str] = {
    ("activate", "active"): "it is already active",
    ("activate", "paused"): "resume it instead",
    ("pause", "draft"): "activate it first",
    ("pause", "paused"): "it is already paused",
    ("resume", "draft"): "activate it instead",
    ("resume", "active"): "it is already active",
}


def ensure_exists(state: IngestionState | None, ingestion_id: str) -> IngestionState:
    """Return ``state`` unless the ingestion never existed or was deleted.

    Raises:
        NotFoundError: No such (live) ingestion for this tenant.
    """
    if state is None or state.status == "deleted":
        raise NotFoundError(f"ingestion {ingestion_id!r} not found")
    return state


def check_transition(command: Transition, state: IngestionState) -> None:
    """Refuse ``command`` unless the ingestion's status allows it.

    Raises:
        ConflictError: The status does not allow the command (message says what to do instead).
    """
    if state.status in ALLOWED_FROM[command]:
        return
    hint = _HINTS.get((command, state.status), "check its status first")
    raise ConflictError(f"cannot {command} an ingestion that is {state.status}; {hint}")


def changed_sections(current: IngestionConfig, proposed: IngestionConfig) -> list[str]:
    """Return the top-level sections that differ between two configurations."""
    return [name for name in current.__struct_fields__ if getattr(current, name) != getattr(proposed, name)]


def check_update(state: IngestionState, changed: list[str]) -> None:
    """Refuse changes of source/format/destination once the ingestion left the draft status.

    Raises:
        ConflictError: A frozen section changed; the message names it.
    """
    if state.status == "draft":
        return
    frozen = [section for section in changed if section in IMMUTABLE_AFTER_DRAFT]
    if frozen:
        names = ", ".join(frozen)
        raise ConflictError(
            f"{names} cannot change once the ingestion is {state.status} (only while it is a draft); "
            "create a new ingestion for a different source, format or destination"
        )
