"""The ingestion fold's schema versions and the legacy ``evolution_enabled`` switch."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from autoloader_contracts.events import (
    ColumnChange,
    Event,
    IngestionCreated,
    SchemaChange,
    SchemaChangeDetected,
    SchemaChangeResolved,
)
from autoloader_contracts.ingestion import (
    DestinationSpec,
    FormatSpec,
    IngestionConfig,
    IngestionState,
    SchemaSpec,
    SourceSpec,
)
from autoloader_contracts.ingestion_state import fold

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = SchemaChange(
    added=[ColumnChange(name="city", new_type="string")],
    changed=[ColumnChange(name="qty", old_type="int32", new_type="int64")],
)
CONFIG = IngestionConfig(
    name="orders",
    source=SourceSpec(type="local", path="/data"),
    format=FormatSpec(type="json"),
    destination=DestinationSpec(database="db", table="t"),
)


def envelope(number: int) -> dict[str, object]:
    return {
        "event_id": f"evt_{number}",
        "occurred_at": T0,
        "tenant_id": "ten_1",
        "aggregate_id": "ing_1",
        "actor": "key:k",
        "correlation_id": "cor",
    }


def detected(number: int, version: int, resolution: str) -> SchemaChangeDetected:
    return SchemaChangeDetected(
        **envelope(number),  # type: ignore[arg-type]
        version=version,
        diff=CHANGE,
        files=["b.json"],
        run_id="run_1",
        mode="fail",
        resolution=resolution,  # type: ignore[arg-type]
    )


def resolved(number: int, version: int, action: str) -> SchemaChangeResolved:
    return SchemaChangeResolved(
        **envelope(number),  # type: ignore[arg-type]
        version=version,
        action=action,  # type: ignore[arg-type]
        by="key:k",
        diff=CHANGE,
        files=["b.json"],
    )


def state_after(*events: Event) -> IngestionState:
    created = IngestionCreated(**envelope(0), config=CONFIG, status="active")  # type: ignore[arg-type]
    state = fold(enumerate([created, *events], start=1))
    assert state is not None
    return state


def test_a_pending_change_puts_the_ingestion_in_error() -> None:
    state = state_after(detected(1, 1, "pending"))

    assert (state.status, state.schema_version, state.pending_schema_version) == ("error", 1, 1)


def test_an_auto_applied_change_only_counts_the_version() -> None:
    state = state_after(detected(1, 1, "auto_applied"))

    assert (state.status, state.schema_version, state.pending_schema_version) == ("active", 1, None)


def test_auto_merge_accepts_the_new_and_changed_columns_and_reactivates() -> None:
    state = state_after(detected(1, 1, "auto_applied"), detected(2, 2, "pending"), resolved(3, 2, "auto_merge"))

    assert (state.status, state.schema_version, state.pending_schema_version) == ("active", 2, None)
    assert state.accepted_columns == {"city": "string", "qty": "int64"}
    assert state.ignored_columns == []


def test_ignore_records_the_new_columns_as_ignored() -> None:
    state = state_after(detected(1, 1, "pending"), resolved(2, 1, "ignore"))

    assert state.status == "active"
    assert state.ignored_columns == ["city"]
    assert state.accepted_columns == {}


def test_resolving_another_version_changes_nothing() -> None:
    state = state_after(detected(1, 1, "pending"), resolved(2, 7, "auto_merge"))

    assert (state.status, state.pending_schema_version, state.accepted_columns) == ("error", 1, {})


@pytest.mark.parametrize(("enabled", "mode"), [(True, "add_new_columns"), (False, "fail")])
def test_legacy_evolution_enabled_maps_to_a_mode(enabled: bool, mode: str) -> None:
    body = {"type": "json", "schema": {"evolution_enabled": enabled}}

    spec = msgspec.convert(body, FormatSpec)

    assert spec.schema.evolution_mode == mode
    assert spec.schema.evolution_enabled is None
    assert SchemaSpec(evolution_enabled=enabled).evolution_mode == mode
