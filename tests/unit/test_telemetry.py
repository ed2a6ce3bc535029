"""Telemetry: the instruments render under the stable Prometheus names docs/operations.md lists."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime

import pytest

from autoloader_bus.event_store import StoredEvent
from autoloader_contracts.events import RunCompleted, RunCost, RunMetrics, RunRequested
from autoloader_core.telemetry import build_telemetry, serve_metrics
from autoloader_projector.metrics import count_events

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _envelope(run_id: str) -> dict[str, object]:
    return {
        "event_id": f"evt-{run_id}",
        "occurred_at": NOW,
        "tenant_id": "t1",
        "aggregate_id": run_id,
        "actor": "test",
        "correlation_id": run_id,
        "causation_id": None,
        "ingestion_id": "ing1",
    }


def _series(text: str) -> dict[str, float]:
    """Map each sample line's name and labels to its value."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def test_counters_end_in_total_and_durations_in_seconds() -> None:
    telemetry = build_telemetry("test")
    instruments = telemetry.instruments
    instruments.runs.add(1, {"tenant": "t", "ingestion": "i", "status": "success"})
    instruments.batch_duration.record(0.2, {"outcome": "loaded"})
    instruments.tick_lag.record(0.01)
    instruments.consumer_pending.set(3, {"consumer": "loader"})
    text = telemetry.render().decode()
    assert 'autoloader_runs_total{ingestion="i",status="success",tenant="t"} 1.0' in text
    assert 'autoloader_batch_duration_seconds_bucket{le="0.25",outcome="loaded"} 1.0' in text
    assert "autoloader_scheduler_tick_lag_seconds_count 1.0" in text
    assert 'autoloader_consumer_pending{consumer="loader"} 3.0' in text
    assert "otel_scope_name" not in text


def test_the_projector_counts_run_outcomes_once_per_applied_event() -> None:
    telemetry = build_telemetry("test")
    requested = RunRequested(**_envelope("run1"), trigger="manual")  # type: ignore[arg-type]
    completed = RunCompleted(
        **_envelope("run1"),  # type: ignore[arg-type]
        status="partial",
        metrics=RunMetrics(files_processed=2, files_failed=1, records_ingested=10, bytes_read=100, duration_seconds=3),
        started_at=NOW,
        cost=RunCost(actual=0.5),
    )
    batch = [StoredEvent(seq=1, subject="s", event=requested), StoredEvent(seq=2, subject="s", event=completed)]
    count_events(batch, telemetry.instruments, after=0)
    count_events(batch, telemetry.instruments, after=2)  # a redelivered batch adds nothing
    samples = _series(telemetry.render().decode())
    labels = 'ingestion="ing1",tenant="t1"'
    assert samples[f'autoloader_runs_requested_total{{{labels},trigger="manual"}}'] == 1
    assert samples['autoloader_runs_total{ingestion="ing1",status="partial",tenant="t1"}'] == 1
    assert samples[f"autoloader_files_loaded_total{{{labels}}}"] == 2
    assert samples[f"autoloader_files_failed_total{{{labels}}}"] == 1
    assert samples[f"autoloader_rows_loaded_total{{{labels}}}"] == 10
    assert samples[f"autoloader_bytes_loaded_total{{{labels}}}"] == 100
    assert samples[f'autoloader_run_cost_total{{currency="USD",{labels}}}'] == 0.5
    assert any(re.match(r"autoloader_run_duration_seconds_count\{.*status=\"partial\"", key) for key in samples)


def test_serve_metrics_answers_on_its_port_and_stops() -> None:
    telemetry = build_telemetry("test")
    telemetry.instruments.dead_letters.set(4)
    server = serve_metrics(telemetry, host="127.0.0.1", port=0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.stop()
    assert "autoloader_dead_letters 4.0" in body
