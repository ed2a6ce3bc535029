"""Run metrics counted from the event log (the projector sees every event exactly once).

Counting here rather than in discovery or the loader means each fact is counted once however
many replicas of those services run, and a redelivered batch is not counted twice. File, row and
byte counts come from ``RunCompleted`` (the run's own totals), so they appear when a run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from autoloader_bus.event_store import StoredEvent
from autoloader_contracts.events import Event, RunCompleted, RunEvent, RunRequested, RunSkipped
from autoloader_core.metrics import Instruments


def _labels(event: RunEvent) -> dict[str, str]:
    return {"tenant": event.tenant_id, "ingestion": event.ingestion_id}


def _on_run_requested(event: RunRequested, instruments: Instruments) -> None:
    instruments.runs_requested.add(1, {**_labels(event), "trigger": event.trigger})
    # A series that exists at 0 makes rate() and increase() work from its first skip on.
    instruments.runs_skipped.add(0, _labels(event))


def _on_run_skipped(event: RunSkipped, instruments: Instruments) -> None:
    instruments.runs_skipped.add(1, _labels(event))


def _on_run_completed(event: RunCompleted, instruments: Instruments) -> None:
    labels = _labels(event)
    metrics = event.metrics
    instruments.runs.add(1, {**labels, "status": event.status})
    instruments.run_duration.record(metrics.duration_seconds, {**labels, "status": event.status})
    instruments.files_loaded.add(metrics.files_processed, labels)
    instruments.files_failed.add(metrics.files_failed, labels)
    instruments.files_skipped.add(metrics.files_skipped, labels)
    instruments.rows_loaded.add(metrics.records_ingested, labels)
    instruments.rows_rejected.add(metrics.records_rejected, labels)
    instruments.bytes_loaded.add(metrics.bytes_read, labels)
    if event.cost is not None and event.cost.actual is not None:
        instruments.run_cost.add(event.cost.actual, {**labels, "currency": event.cost.currency})


COUNTERS: dict[type[Event], Callable[[Any, Instruments], None]] = {
    RunRequested: _on_run_requested,
    RunSkipped: _on_run_skipped,
    RunCompleted: _on_run_completed,
}


def count_events(batch: Iterable[StoredEvent], instruments: Instruments, *, after: int) -> None:
    """Count the events of ``batch`` with a sequence above ``after`` (the ones just applied)."""
    for item in batch:
        counter = COUNTERS.get(type(item.event))
        if item.seq > after and counter is not None:
            counter(item.event, instruments)
