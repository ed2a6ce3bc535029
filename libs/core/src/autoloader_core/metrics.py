"""The product's metric instruments, with names that stay stable.

The Prometheus exporter appends ``_total`` to counters and the unit (``s`` → ``_seconds``) to
names, so the names below carry neither: ``autoloader_runs`` is scraped as
``autoloader_runs_total`` and ``autoloader_run_duration`` (unit ``s``) as
``autoloader_run_duration_seconds_bucket/_sum/_count``. docs/operations.md lists the scraped names.

Label cardinality rule: labels take values from small, bounded sets only — status, trigger,
outcome, route template, method, status code, consumer name, source scheme, and the tenant and
ingestion ids (bounded per installation). Never a run id, batch id, file path or raw URL path.
"""

from __future__ import annotations

from opentelemetry.metrics import Histogram, Meter

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
"""Histogram bounds for durations from milliseconds (HTTP) to a quarter of an hour (a run)."""


class Instruments:
    """Every instrument the services record into, created on one meter.

    Args:
        meter: The meter of the process's MeterProvider (see :mod:`autoloader_core.telemetry`).
    """

    def __init__(self, meter: Meter) -> None:
        self._add_run_instruments(meter)
        self._add_service_instruments(meter)

    def _add_run_instruments(self, meter: Meter) -> None:
        # Counted by the projector from events: each event once, however many replicas run.
        self.runs_requested = meter.create_counter(
            "autoloader_runs_requested", description="Runs requested, by tenant, ingestion and trigger"
        )
        self.runs = meter.create_counter(
            "autoloader_runs", description="Runs finished, by tenant, ingestion and status (success|partial|failed)"
        )
        self.runs_skipped = meter.create_counter(
            "autoloader_runs_skipped", description="Runs skipped (another run was active), by tenant and ingestion"
        )
        self.files_loaded = meter.create_counter("autoloader_files_loaded", description="Files loaded into tables")
        self.rows_loaded = meter.create_counter("autoloader_rows_loaded", description="Rows written to tables")
        self.rows_rejected = meter.create_counter("autoloader_rows_rejected", description="Rows rejected as bad data")
        self.bytes_loaded = meter.create_counter("autoloader_bytes_loaded", description="Source bytes loaded")
        self.files_skipped = meter.create_counter("autoloader_files_skipped", description="Files skipped by runs")
        self.files_failed = meter.create_counter("autoloader_files_failed", description="Files that failed to load")
        self.run_cost = meter.create_counter(
            "autoloader_run_cost", description="Actual cost of finished runs, by tenant, ingestion and currency"
        )
        self.run_duration = _seconds(meter, "autoloader_run_duration", "Run duration, start to completion, by status")

    def _add_service_instruments(self, meter: Meter) -> None:
        self.batch_duration = _seconds(
            meter, "autoloader_batch_duration", "Loader time per batch, by outcome (loaded|failed)"
        )
        self.source_bytes = meter.create_counter(
            "autoloader_loader_source_bytes",
            description="Bytes of the files the loader's batches loaded, by who read them (read_by: "
            "embedded|connector through the loader, cluster straight from the store)",
        )
        self.listing_duration = _seconds(
            meter, "autoloader_listing_duration", "Discovery time to list a source, by scheme"
        )
        self.objects_listed = meter.create_counter(
            "autoloader_objects_listed", description="Objects listed at sources, by scheme"
        )
        self.tick_lag = _seconds(
            meter, "autoloader_scheduler_tick_lag", "How late the scheduler appended a due run after its scheduled time"
        )
        self.consumer_pending = meter.create_gauge(
            "autoloader_consumer_pending", description="Messages not yet delivered to a durable consumer"
        )
        self.consumer_ack_pending = meter.create_gauge(
            "autoloader_consumer_ack_pending", description="Messages delivered to a durable consumer, not yet acked"
        )
        self.consumer_redelivered = meter.create_gauge(
            "autoloader_consumer_redelivered", description="Messages a durable consumer is redelivering"
        )
        self.dead_letters = meter.create_gauge(
            "autoloader_dead_letters", description="Messages the services gave up (the dead-letter stream)"
        )
        self.http_duration = _seconds(
            meter, "autoloader_http_request_duration", "API request latency, by route template, method and status"
        )


def _seconds(meter: Meter, name: str, description: str) -> Histogram:
    """A duration histogram in seconds, with buckets from 5 ms to 15 min (the SDK's default ones are in ms)."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=SECONDS_BUCKETS
    )
