"""Bodies of the monitoring routes: metrics, dashboard, the audit trail and alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Base of response bodies."""


class RunCounts(_Out, frozen=True, kw_only=True):
    """Runs by status."""

    total: int = 0
    success: int = 0
    partial: int = 0
    failed: int = 0
    skipped: int = 0


class CostTotals(_Out, frozen=True, kw_only=True):
    """Summed run costs."""

    actual: float = 0.0
    estimated: float = 0.0
    currency: str = "USD"


class DailyMetrics(_Out, frozen=True, kw_only=True):
    """One UTC day of an ingestion's runs (by the day they ended)."""

    date: date
    runs: int
    success: int
    partial: int
    failed: int
    skipped: int
    files: int
    rows: int
    bytes: int
    avg_duration_seconds: float | None
    cost: float


class IngestionMetrics(_Out, frozen=True, kw_only=True):
    """``GET /ingestions/{id}/metrics``."""

    days: int
    from_: datetime = msgspec.field(name="from")
    to: datetime
    runs: RunCounts
    files_loaded: int
    files_failed: int
    rows: int
    bytes: int
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    failures: int
    cost: CostTotals
    estimate_accuracy_percent: float | None
    """Mean absolute difference between the estimated and actual cost of the window's runs, in %."""
    daily: list[DailyMetrics]


class IngestionTotals(_Out, frozen=True, kw_only=True):
    """The tenant's ingestions by status."""

    total: int
    by_status: dict[str, int]


class LastDay(_Out, frozen=True, kw_only=True):
    """Runs that ended in the last 24 hours."""

    runs: int
    successful_runs: int
    failed_runs: int
    files: int
    rows: int
    bytes: int
    success_rate: float | None
    """Successful runs / finished runs (skipped ones not counted); null without any."""


class Money(_Out, frozen=True, kw_only=True):
    """An amount of money."""

    amount: float
    currency: str = "USD"


class AlertCount(_Out, frozen=True, kw_only=True):
    """Active alerts."""

    active: int


class Attention(_Out, frozen=True, kw_only=True):
    """An ingestion that needs someone to look at it."""

    ingestion_id: str
    name: str
    reason: str


class Dashboard(_Out, frozen=True, kw_only=True):
    """``GET /dashboard``: tenant totals."""

    ingestions: IngestionTotals
    last_24h: LastDay
    cost_this_month: Money
    alerts: AlertCount
    attention: list[Attention]


class EventOut(_Out, frozen=True, kw_only=True):
    """One event of an ingestion's history (the event's own fields are in ``data``)."""

    seq: int
    type: str
    occurred_at: datetime
    actor: str
    aggregate: str
    aggregate_id: str
    correlation_id: str
    causation_id: str | None
    data: dict[str, Any]


class EventPage(_Out, frozen=True, kw_only=True):
    """A page of events, newest first."""

    items: list[EventOut]
    next_cursor: str | None


class AlertOut(_Out, frozen=True, kw_only=True):
    """One alert."""

    id: str
    ingestion_id: str
    ingestion_name: str | None
    kind: str
    message: str
    details: dict[str, Any]
    raised_at: datetime
    cleared_at: datetime | None
    clear_reason: str | None
    status: str


class AlertPage(_Out, frozen=True, kw_only=True):
    """A page of alerts, newest first."""

    items: list[AlertOut]
    next_cursor: str | None
