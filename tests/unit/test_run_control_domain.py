"""Pure rules behind preview, run control and alerts: windows, alert verdicts, health, row estimates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoloader_api.previewing import estimated_records
from autoloader_api.run_control import Request, _check, _steps
from autoloader_api.views import health
from autoloader_contracts.events import FileRef, RunCompleted, RunError, RunMetrics
from autoloader_contracts.ingestion import DiscoverySpec, QualitySpec
from autoloader_contracts.rpc import PreviewSampleReply, SelectFilesReply
from autoloader_core.errors import ConfirmationRequired, ValidationFailed
from autoloader_discovery.alert_rules import BACKLOG_RUNS, no_new_files, run_verdicts
from autoloader_discovery.domain import SelectionRules, Selector

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ref(path: str, modified: datetime, size: int = 10) -> FileRef:
    return FileRef(path=path, size=size, modified_at=modified)


# --- backfill windows and resets in the selector ------------------------------------------------


def test_a_backfill_window_takes_only_files_modified_inside_it_and_ignores_limits() -> None:
    window = SelectionRules(
        limits=False, window_from=datetime(2026, 2, 1, tzinfo=UTC), window_to=datetime(2026, 3, 1, tzinfo=UTC)
    )
    selector = Selector(rules=DiscoverySpec(max_files_per_run=1), now=NOW, run=window)
    files = [
        ref("jan.csv", datetime(2026, 1, 31, 23, 59, tzinfo=UTC)),
        ref("feb-1.csv", datetime(2026, 2, 1, tzinfo=UTC)),  # from is inclusive
        ref("feb-2.csv", datetime(2026, 2, 20, tzinfo=UTC)),
        ref("mar.csv", datetime(2026, 3, 1, tzinfo=UTC)),  # to is exclusive
    ]

    selector.offer(files, {})

    assert [f.path for f in selector.selection.new] == ["feb-1.csv", "feb-2.csv"]
    assert selector.selection.backlog_files == 0
    assert selector.selection.known == 2  # outside the window counts as "left alone"


def test_a_backfill_skips_files_already_loaded_in_the_window() -> None:
    loaded = ref("feb.csv", datetime(2026, 2, 5, tzinfo=UTC))
    window = SelectionRules(window_from=datetime(2026, 2, 1, tzinfo=UTC), window_to=datetime(2026, 3, 1, tzinfo=UTC))
    selector = Selector(rules=DiscoverySpec(), now=NOW, run=window)

    selector.offer([loaded, ref("feb-new.csv", datetime(2026, 2, 6, tzinfo=UTC))], {"feb.csv": {loaded.identity}})

    assert [f.path for f in selector.selection.new] == ["feb-new.csv"]


def test_a_reset_marks_unsettled_files_too() -> None:
    young = ref("young.csv", NOW - timedelta(seconds=5))
    rules = DiscoverySpec(min_file_age_seconds=600, max_files_per_run=1)
    settled = Selector(rules=rules, now=NOW)
    resetting = Selector(rules=rules, now=NOW, run=SelectionRules(limits=False, settle=False))

    settled.offer([young, ref("old.csv", NOW - timedelta(days=1))], {})
    resetting.offer([young, ref("old.csv", NOW - timedelta(days=1))], {})

    assert [f.path for f in settled.selection.new] == ["old.csv"]
    assert [f.path for f in resetting.selection.new] == ["young.csv", "old.csv"]


def test_the_selector_is_full_once_a_backlog_appears() -> None:
    selector = Selector(rules=DiscoverySpec(max_files_per_run=1), now=NOW)
    selector.offer([ref("a.csv", NOW - timedelta(days=1))], {})
    assert not selector.is_full()
    selector.offer([ref("b.csv", NOW - timedelta(days=1))], {})
    assert selector.is_full()


# --- run-control checks -------------------------------------------------------------------------


def test_destructive_operations_need_confirm_or_dry_run() -> None:
    with pytest.raises(ConfirmationRequired) as refused:
        _check(Request(kind="refresh_full", confirm=False, dry_run=False))
    assert refused.value.errors[0].field == "confirm"
    _check(Request(kind="refresh_full", confirm=False, dry_run=True))
    _check(Request(kind="reset", confirm=True, dry_run=False, load=False))


@pytest.mark.parametrize(
    ("window", "fields"),
    [
        ((None, None), ["from", "to"]),
        ((NOW, None), ["to"]),
        ((NOW, NOW), ["to"]),
        ((NOW, NOW - timedelta(days=1)), ["to"]),
    ],
)
def test_a_backfill_window_must_be_given_and_not_empty(
    window: tuple[datetime | None, datetime | None], fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _check(Request(kind="backfill", confirm=True, dry_run=False, window_from=window[0], window_to=window[1]))
    assert [e.field for e in refused.value.errors] == fields


@pytest.mark.parametrize(
    ("request_", "steps"),
    [
        (
            Request(kind="refresh_full", confirm=True, dry_run=False),
            ["table_dropped", "processed_files_cleared", "run_triggered"],
        ),
        (
            Request(kind="refresh_full", confirm=True, dry_run=False, load=False),
            ["table_dropped", "processed_files_cleared"],
        ),
        (Request(kind="refresh_new_only", confirm=True, dry_run=False), ["table_dropped", "run_triggered"]),
        (Request(kind="backfill", confirm=True, dry_run=False), ["run_triggered"]),
        (Request(kind="reset", confirm=True, dry_run=False, load=False), ["files_marked_seen"]),
        (Request(kind="forget_files", confirm=True, dry_run=False, load=False), ["processed_files_cleared"]),
    ],
)
def test_each_operation_lists_its_steps(request_: Request, steps: list[str]) -> None:
    assert _steps(request_) == steps


# --- health badge ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "last_run", "alerts", "badge"),
    [
        ("draft", None, 0, "draft"),
        ("paused", "failed", 1, "paused"),
        ("error", "success", 0, "error"),
        ("active", "failed", 0, "error"),
        ("active", "partial", 0, "warning"),
        ("active", "success", 1, "warning"),
        ("active", "success", 0, "healthy"),
        ("active", None, 0, "healthy"),
    ],
)
def test_health_badge(status: str, last_run: str | None, alerts: int, badge: str) -> None:
    assert health(status, last_run, active_alerts=alerts) == badge


# --- estimated records ----------------------------------------------------------------------------


def selection(count: int, size: int) -> SelectFilesReply:
    return SelectFilesReply(reachable=True, authorised=True, message="ok", count=count, bytes=size)


def sample(**figures: Any) -> PreviewSampleReply:
    return PreviewSampleReply(columns=[], rows=[], table_exists=False, **figures)


def test_records_are_exact_when_every_file_was_read_whole() -> None:
    assert estimated_records(selection(2, 500), sample(whole_files_bytes=500, whole_files_rows=42)) == 42


def test_records_of_unread_bytes_are_estimated_at_the_sampled_rate() -> None:
    figures = sample(whole_files_bytes=100, whole_files_rows=10, bytes_sampled=100, rows_sampled=10)
    assert estimated_records(selection(3, 1100), figures) == 110


def test_records_fall_back_to_a_partial_read_and_are_unknown_without_a_sample() -> None:
    assert estimated_records(selection(1, 1000), sample(bytes_sampled=100, rows_sampled=5)) == 50
    assert estimated_records(selection(1, 1000), None) is None
    assert estimated_records(selection(0, 0), None) == 0


# --- alert verdicts ---------------------------------------------------------------------------------


def completed(
    status: str = "success", *, files: int = 1, rows: int = 100, backlog: int = 0, errors: list[RunError] | None = None
) -> RunCompleted:
    return RunCompleted(
        event_id="evt_1",
        occurred_at=NOW,
        tenant_id="ten_1",
        aggregate_id="run_1",
        actor="service:discovery",
        correlation_id="run_1",
        ingestion_id="ing_1",
        status=status,  # type: ignore[arg-type]
        metrics=RunMetrics(files_processed=files, records_ingested=rows, backlog_files=backlog),
        started_at=NOW - timedelta(seconds=5),
        errors=errors or [],
    )


def verdicts(
    run: RunCompleted,
    quality: QualitySpec | None = None,
    *,
    before: list[int] | None = None,
    last_files_at: datetime = NOW,
) -> dict[str, bool]:
    found = run_verdicts(run, quality or QualitySpec(), backlog_before=before or [], last_files_at=last_files_at)
    return {v.kind: v.holds for v in found}


def test_a_failed_run_raises_run_failed_with_its_first_error() -> None:
    run = completed("failed", errors=[RunError(error_type="source_unavailable", message="connection refused")])
    found = run_verdicts(run, QualitySpec(), backlog_before=[], last_files_at=NOW)
    failed = next(v for v in found if v.kind == "run_failed")
    assert failed.holds
    assert "connection refused" in failed.message
    assert verdicts(completed("success"))["run_failed"] is False


def test_row_count_below_threshold_holds_only_for_runs_that_loaded_files() -> None:
    quality = QualitySpec(row_count_threshold=50)
    assert verdicts(completed(rows=10), quality)["row_count_below_threshold"] is True
    assert verdicts(completed(rows=50), quality)["row_count_below_threshold"] is False
    assert "row_count_below_threshold" not in verdicts(completed(files=0, rows=0), quality)


def test_backlog_growing_needs_strict_growth_over_the_last_runs() -> None:
    assert BACKLOG_RUNS == 3
    assert verdicts(completed(backlog=5), before=[1, 3])["backlog_growing"] is True
    assert verdicts(completed(backlog=3), before=[1, 3])["backlog_growing"] is False
    assert verdicts(completed(backlog=5), before=[3])["backlog_growing"] is False  # too few runs yet


def test_no_new_files_after_the_configured_hours_and_cleared_by_a_run_with_files() -> None:
    quality = QualitySpec(no_files_alert_hours=6)
    assert no_new_files(quality, last_files_at=NOW - timedelta(hours=5), now=NOW) is None
    late = no_new_files(quality, last_files_at=NOW - timedelta(hours=7), now=NOW)
    assert late is not None
    assert late.holds
    assert "6 hours" in late.message
    with_files = no_new_files(quality, last_files_at=NOW - timedelta(hours=7), now=NOW, completed=completed(files=2))
    assert with_files is not None
    assert not with_files.holds
    unset = no_new_files(QualitySpec(), last_files_at=NOW - timedelta(days=30), now=NOW)
    assert unset is not None
    assert not unset.holds
