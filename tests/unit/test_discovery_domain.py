"""Discovery rules: ledger diff, settle rule, per-run limits, batching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoloader_contracts.events import FileRef
from autoloader_contracts.ingestion import DiscoverySpec
from autoloader_discovery.domain import Selector, run_status, split_batches, total_spark_seconds

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ref(path: str, size: int = 10, age_s: int = 3600) -> FileRef:
    return FileRef(path=path, size=size, modified_at=NOW - timedelta(seconds=age_s))


def test_known_files_are_not_taken_again() -> None:
    selector = Selector(rules=DiscoverySpec(), now=NOW)
    old, new = ref("a.csv"), ref("b.csv")
    selector.offer([old, new], {"a.csv": {old.identity}})
    assert [f.path for f in selector.selection.new] == ["b.csv"]
    assert selector.selection.listed == 2


@pytest.mark.parametrize(("policy", "taken"), [("ignore", []), ("reload", ["a.csv"])])
def test_changed_file_follows_the_policy(policy: str, taken: list[str]) -> None:
    selector = Selector(rules=DiscoverySpec(changed_files=policy), now=NOW)
    selector.offer([ref("a.csv", size=99)], {"a.csv": {ref("a.csv").identity}})
    assert [f.path for f in selector.selection.new] == taken
    assert selector.selection.changed == 1


def test_young_files_wait_for_the_settle_age() -> None:
    selector = Selector(rules=DiscoverySpec(min_file_age_seconds=60), now=NOW)
    selector.offer([ref("young.csv", age_s=10), ref("old.csv", age_s=120)], {})
    assert [f.path for f in selector.selection.new] == ["old.csv"]
    assert selector.selection.unsettled == 1


def test_limits_leave_a_visible_backlog() -> None:
    selector = Selector(rules=DiscoverySpec(max_files_per_run=2), now=NOW)
    selector.offer([ref(f"{i}.csv") for i in range(5)], {})
    assert len(selector.selection.new) == 2
    assert selector.selection.backlog_files == 3

    by_bytes = Selector(rules=DiscoverySpec(max_files_per_run=None, max_bytes_per_run=25), now=NOW)
    by_bytes.offer([ref(f"{i}.csv", size=10) for i in range(4)], {})
    assert by_bytes.selection.new_bytes == 20
    assert by_bytes.selection.backlog_bytes == 20


def test_a_single_file_larger_than_the_byte_limit_still_runs() -> None:
    selector = Selector(rules=DiscoverySpec(max_bytes_per_run=5), now=NOW)
    selector.offer([ref("big.csv", size=50)], {})
    assert [f.path for f in selector.selection.new] == ["big.csv"]


def test_split_batches_respects_files_and_bytes() -> None:
    files = [ref(f"{i}.csv", size=40) for i in range(5)]
    assert [len(b) for b in split_batches(files, max_files=2, max_bytes=1000)] == [2, 2, 1]
    assert [len(b) for b in split_batches(files, max_files=100, max_bytes=100)] == [2, 2, 1]
    assert split_batches([], max_files=2, max_bytes=10) == []


@pytest.mark.parametrize(
    ("loaded", "failed", "rejected", "fail_run", "status"),
    [
        (3, 0, 0, False, "success"),
        (0, 0, 0, False, "success"),
        (2, 1, 0, False, "partial"),
        (0, 2, 0, False, "failed"),
        (3, 0, 5, False, "partial"),
        (2, 1, 0, True, "failed"),
        (3, 0, 0, True, "success"),
    ],
)
def test_run_status(loaded: int, failed: int, rejected: int, fail_run: bool, status: str) -> None:
    assert run_status(loaded, failed, rejected_rows=rejected, fail_run=fail_run) == status


def test_spark_seconds_of_a_run_sum_its_loaded_batches_and_embedded_ones_count_zero() -> None:
    batches = [{"spark_seconds": 1.25}, {"spark_seconds": None}, {"spark_seconds": 0.5}, {}]

    assert total_spark_seconds(batches) == 1.75
    assert total_spark_seconds([{"spark_seconds": None}]) == 0.0
    assert total_spark_seconds([]) == 0.0
    assert total_spark_seconds([{"spark_seconds": 0.1}, {"spark_seconds": 0.2}]) == 0.3  # rounded to ms
