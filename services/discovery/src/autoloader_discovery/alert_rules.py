"""When an ingestion's alerts are raised and cleared (pure rules; the I/O is in :mod:`.alerts`).

Each rule looks at one finished run (or, for ``no_new_files``, at the time since files last
arrived) and says whether its condition holds now. An alert is raised when its condition starts
and cleared when it ends, so each episode is one ``alert.raised`` and one ``alert.cleared``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autoloader_contracts.events import RunCompleted
from autoloader_contracts.ingestion import QualitySpec

BACKLOG_RUNS = 3
"""``backlog_growing``: the backlog grew run after run over this many runs."""


@dataclass(frozen=True)
class Verdict:
    """A condition's state after a run: ``holds`` raises its alert (if not active), else clears it."""

    kind: str
    holds: bool
    message: str
    details: dict[str, str] = field(default_factory=dict)


def run_verdicts(
    completed: RunCompleted, quality: QualitySpec, *, backlog_before: list[int], last_files_at: datetime
) -> list[Verdict]:
    """The conditions a finished run decides: failure, row count, backlog, no new files.

    Args:
        completed: The run's completion event.
        quality: The ingestion's alert thresholds.
        backlog_before: ``backlog_files`` of the earlier runs, oldest first.
        last_files_at: When a run last loaded a file (or the ingestion was activated), before this run.
    """
    verdicts = [_failed(completed), *_row_count(completed, quality), _backlog(completed, backlog_before)]
    no_files = no_new_files(quality, last_files_at=last_files_at, now=completed.occurred_at, completed=completed)
    return [*verdicts, *([no_files] if no_files else [])]


def _failed(completed: RunCompleted) -> Verdict:
    run = completed.aggregate_id
    if completed.status != "failed":
        return Verdict("run_failed", False, f"run {run} finished {completed.status}")
    first = completed.errors[0].message if completed.errors else "no error was recorded"
    return Verdict("run_failed", True, f"run {run} failed: {first}", {"run_id": run})


def _row_count(completed: RunCompleted, quality: QualitySpec) -> list[Verdict]:
    threshold, metrics = quality.row_count_threshold, completed.metrics
    if threshold is None:
        return [Verdict("row_count_below_threshold", False, "no row count threshold is set")]
    if metrics.files_processed == 0:
        return []  # a run without files says nothing about row counts (no_new_files covers it)
    rows, run = metrics.records_ingested, completed.aggregate_id
    details = {"run_id": run, "rows": str(rows), "threshold": str(threshold)}
    if rows < threshold:
        return [Verdict("row_count_below_threshold", True, f"run {run} loaded {rows} rows, below {threshold}", details)]
    return [Verdict("row_count_below_threshold", False, f"run {run} loaded {rows} rows", details)]


def _backlog(completed: RunCompleted, before: list[int]) -> Verdict:
    series = [*before, completed.metrics.backlog_files][-BACKLOG_RUNS:]
    growing = len(series) == BACKLOG_RUNS and all(a < b for a, b in itertools.pairwise(series))
    details = {"backlog_files": ",".join(str(n) for n in series)}
    if growing:
        message = f"the backlog grew over the last {BACKLOG_RUNS} runs ({' -> '.join(map(str, series))} files)"
        return Verdict("backlog_growing", True, message, details)
    return Verdict("backlog_growing", False, "the backlog is not growing", details)


def no_new_files(
    quality: QualitySpec, *, last_files_at: datetime, now: datetime, completed: RunCompleted | None = None
) -> Verdict | None:
    """``no_new_files``: no run loaded a file for ``quality.no_files_alert_hours`` hours.

    Returns None when nothing can be said (no threshold, or not enough time has passed and no file came).
    """
    hours = quality.no_files_alert_hours
    if completed is not None and completed.metrics.files_processed > 0:
        return Verdict("no_new_files", False, f"run {completed.aggregate_id} loaded new files")
    if hours is None:
        return Verdict("no_new_files", False, "no alert threshold for missing files is set")
    if now - last_files_at < timedelta(hours=hours):
        return None
    details = {"hours": str(hours), "last_files_at": last_files_at.isoformat()}
    return Verdict(
        "no_new_files", True, f"no new files for {hours} hours (since {last_files_at:%Y-%m-%d %H:%M} UTC)", details
    )
