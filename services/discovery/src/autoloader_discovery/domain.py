"""Pure discovery rules: which listed files a run takes, and how they split into batches."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autoloader_contracts.events import FileRef
from autoloader_contracts.ingestion import DiscoverySpec


@dataclass
class Selection:
    """The outcome of diffing a listing against the ledger."""

    new: list[FileRef] = field(default_factory=list)
    new_bytes: int = 0
    listed: int = 0
    changed: int = 0
    unsettled: int = 0
    backlog_files: int = 0
    backlog_bytes: int = 0
    resume_after: str | None = None
    """For incremental listings: every file up to this path was taken or is known for good."""
    left_behind: bool = False
    stopped_early: bool = False
    """The listing was cut short (a preview's cap): the counts are lower bounds."""

    @property
    def known(self) -> int:
        """Listed files the ledger already holds (or outside a backfill window)."""
        return self.listed - len(self.new) - self.unsettled - self.backlog_files


@dataclass(frozen=True)
class SelectionRules:
    """How a run picks files beyond the ingestion's discovery settings.

    Attributes:
        limits: Apply ``max_files_per_run`` / ``max_bytes_per_run`` (a backfill takes its whole window).
        settle: Apply ``min_file_age_seconds`` (a reset marks every present file, settled or not).
        window_from: Only files modified at or after this time (backfill).
        window_to: Only files modified before this time (backfill).
    """

    limits: bool = True
    settle: bool = True
    window_from: datetime | None = None
    window_to: datetime | None = None

    def in_window(self, ref: FileRef) -> bool:
        """Whether ``ref`` was modified inside the window (always, without one)."""
        if self.window_from is not None and ref.modified_at < self.window_from:
            return False
        return self.window_to is None or ref.modified_at < self.window_to


@dataclass
class Selector:
    """Feeds listed files through the ledger diff, the settle rule and the per-run limits."""

    rules: DiscoverySpec
    now: datetime
    run: SelectionRules = SelectionRules()
    selection: Selection = field(default_factory=Selection)

    def offer(self, files: Iterable[FileRef], known: Mapping[str, Collection[str]]) -> None:
        """Consider ``files``; ``known`` maps each already-seen path to its identities in the ledger."""
        settle_before = self.now - timedelta(seconds=self.rules.min_file_age_seconds if self.run.settle else 0)
        for ref in files:
            self.selection.listed += 1
            taken_or_known = self._consider(ref, known.get(ref.path), settle_before)
            if not taken_or_known:
                self.selection.left_behind = True
            elif not self.selection.left_behind:
                self.selection.resume_after = ref.path

    def offer_known(self, count: int, last_path: str) -> None:
        """Count ``count`` consecutive listed files the ledger holds under their listed identity.

        The same outcome as offering them one by one (a known file is neither taken nor left
        behind, in a backfill window or not), without a step per file: ``last_path`` is the last
        of them, where an incremental listing may resume unless an earlier file was left behind.
        """
        if count <= 0:
            return
        self.selection.listed += count
        if not self.selection.left_behind:
            self.selection.resume_after = last_path

    def is_full(self) -> bool:
        """Whether the run has all it may take (later files can only add to the backlog)."""
        return self.selection.backlog_files > 0

    def _consider(self, ref: FileRef, seen: Collection[str] | None, settle_before: datetime) -> bool:
        """Take ``ref`` if it is new (or changed and reloaded); False when it is left for a later run."""
        if not self.run.in_window(ref):
            return True
        if seen is not None:
            if ref.identity in seen:
                return True
            self.selection.changed += 1
            if self.rules.changed_files != "reload":
                return True
        if self.run.settle and ref.modified_at > settle_before:
            self.selection.unsettled += 1
            return False
        return self._take(ref)

    def drop_unstable(self, relisted: Mapping[str, str]) -> None:
        """Keep only selected files whose identity is the same in a second listing (path -> identity)."""
        stable = [ref for ref in self.selection.new if relisted.get(ref.path) == ref.identity]
        moved = len(self.selection.new) - len(stable)
        if moved:
            self.selection.unsettled += moved
            self.selection.left_behind = True
            self.selection.resume_after = None
            self.selection.new = stable
            self.selection.new_bytes = sum(ref.size for ref in stable)

    def _take(self, ref: FileRef) -> bool:
        sel = self.selection
        over_files = self.rules.max_files_per_run is not None and len(sel.new) >= self.rules.max_files_per_run
        over_bytes = (
            self.rules.max_bytes_per_run is not None
            and sel.new
            and sel.new_bytes + ref.size > self.rules.max_bytes_per_run
        )
        if self.run.limits and (over_files or over_bytes):
            sel.backlog_files += 1
            sel.backlog_bytes += ref.size
            return False
        sel.new.append(ref)
        sel.new_bytes += ref.size
        return True


def split_batches(files: list[FileRef], *, max_files: int, max_bytes: int) -> list[list[FileRef]]:
    """Split ``files`` (in order) into batches of at most ``max_files`` files and about ``max_bytes`` bytes."""
    batches: list[list[FileRef]] = []
    current: list[FileRef] = []
    size = 0
    for ref in files:
        if current and (len(current) >= max_files or size + ref.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(ref)
        size += ref.size
    if current:
        batches.append(current)
    return batches


def run_status(loaded: int, failed: int, *, rejected_rows: int = 0, fail_run: bool = False) -> str:
    """The run's status from its file and row outcomes.

    Nothing failed or rejected: success. Nothing loaded but something failed, or any failure under
    ``on_error = fail_run``: failed. Anything else (failed files beside loaded ones, or rows dropped
    under ``skip_row``): partial.
    """
    if failed and (fail_run or loaded == 0):
        return "failed"
    if failed or rejected_rows:
        return "partial"
    return "success"


def total_spark_seconds(loaded_batches: Iterable[Mapping[str, object]]) -> float:
    """Spark-side seconds of a run: the sum over its loaded batches (``spark_seconds`` None counts 0).

    The embedded engine reports no Spark time, so a run it loaded costs 0 Spark seconds.
    """
    total = 0.0
    for batch in loaded_batches:
        seconds = batch.get("spark_seconds")
        if isinstance(seconds, int | float):
            total += seconds
    return round(total, 3)
