"""Bodies of the preview, cost and run-control routes (docs/api.md "Preview, cost, run control")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from autoloader_api.schemas import CreateIngestion, SampleFile, SourceIn
from autoloader_contracts.cost import CostEstimate
from autoloader_contracts.events import ColumnChange
from autoloader_contracts.ingestion import (
    DestinationSpec,
    DiscoverySpec,
    EngineSpec,
    ErrorsSpec,
    FormatSpec,
    QualitySpec,
    ScheduleSpec,
)
from autoloader_contracts.rpc import ColumnPreview, MalformedRecord


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Base of response bodies."""


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are refused."""


# --- preview --------------------------------------------------------------------------------


class PreviewConnection(_Out, frozen=True, kw_only=True):
    """Whether the source could be listed."""

    reachable: bool
    authorised: bool
    message: str


class PreviewFiles(_Out, frozen=True, kw_only=True):
    """The files the next run would take."""

    count: int
    bytes: int
    count_is_lower_bound: bool
    listed: int
    already_known: int
    changed: int
    unsettled: int
    backlog_files: int
    backlog_bytes: int
    first: list[SampleFile]


class PreviewDiff(_Out, frozen=True, kw_only=True):
    """The files' schema against the destination table's, and what the evolution mode would do."""

    table_exists: bool
    added: list[ColumnChange]
    removed: list[ColumnChange]
    changed: list[ColumnChange]
    action: str
    message: str


class PreviewMalformed(_Out, frozen=True, kw_only=True):
    """Malformed records (or unreadable files) in the sample."""

    count: int
    records: list[MalformedRecord]


class PreviewSampled(_Out, frozen=True, kw_only=True):
    """How much was read for the preview."""

    files: int
    bytes: int
    rows: int


class PreviewOut(_Out, frozen=True, kw_only=True):
    """``POST /ingestions/test`` and ``POST /ingestions/{id}/preview``: what the next run would do."""

    connection: PreviewConnection
    files: PreviewFiles
    file_count: int
    """= ``files.count`` (the original design's name)."""
    schema: list[ColumnPreview]
    sample_data: list[dict[str, Any]]
    schema_diff: PreviewDiff
    malformed: PreviewMalformed
    estimated_records: int | None
    sampled: PreviewSampled
    cost: CostEstimate | None
    warnings: list[str]


# --- cost -----------------------------------------------------------------------------------


class EstimateCostIn(_In, frozen=True, kw_only=True):
    """``POST /ingestions/estimate-cost``: a create body, or ``ingestion_id`` of a saved ingestion.

    ``bytes_per_run``, ``files_per_run`` and ``runs_per_month`` replace the figures that would
    otherwise come from a listing of the source (or the ingestion's past runs) and the schedule.
    """

    ingestion_id: str | None = None
    name: str = "estimate"
    source: SourceIn | None = None
    format: FormatSpec | None = None
    destination: DestinationSpec | None = None
    cluster_id: str | None = None
    schedule: ScheduleSpec = ScheduleSpec()
    discovery: DiscoverySpec = DiscoverySpec()
    errors: ErrorsSpec = ErrorsSpec()
    quality: QualitySpec = msgspec.field(default_factory=QualitySpec)
    engine: EngineSpec = msgspec.field(default_factory=EngineSpec)
    activate: bool = False
    bytes_per_run: int | None = None
    files_per_run: int | None = None
    runs_per_month: int | None = None

    def to_create(self) -> CreateIngestion | None:
        """The configuration as a create body (None when it names a saved ingestion or lacks a section)."""
        if self.source is None or self.format is None or self.destination is None:
            return None
        return CreateIngestion(
            name=self.name,
            source=self.source,
            format=self.format,
            destination=self.destination,
            cluster_id=self.cluster_id,
            schedule=self.schedule,
            discovery=self.discovery,
            errors=self.errors,
            quality=self.quality,
            engine=self.engine,
        )


# --- run control ----------------------------------------------------------------------------


class RunControlIn(_In, frozen=True, kw_only=True):
    """Body of ``refresh/full``, ``refresh/new-only``, ``reset`` and ``DELETE processed-files``."""

    confirm: bool = False
    dry_run: bool = False
    auto_run: bool = True


class BackfillIn(_In, frozen=True, kw_only=True):
    """Body of ``POST …/backfill``: files modified in ``[from, to)``."""

    from_: datetime | None = msgspec.field(default=None, name="from")
    to: datetime | None = None
    confirm: bool = False
    dry_run: bool = False


class Operation(_Out, frozen=True, kw_only=True):
    """One step of a run-control operation."""

    operation: str
    status: str
    details: str


class Impact(_Out, frozen=True, kw_only=True):
    """What an operation's run would do."""

    files_to_process: int
    files_skipped: int
    bytes_to_process: int
    estimated_rows: int | None
    estimated_cost: float | None
    estimated_duration_seconds: float | None
    files_are_lower_bound: bool = False
    """The listing stopped early: at least this many files."""
    message: str | None = None
    """What the listing found, or why the source could not be listed."""


class OperationAccepted(_Out, frozen=True, kw_only=True):
    """202 answer of a run-control operation."""

    operations: list[Operation]
    impact: Impact
    run_id: str | None


class OperationDryRun(_Out, frozen=True, kw_only=True):
    """200 answer of a run-control dry run: nothing was changed."""

    would_perform: list[Operation]
    impact: Impact
    run_id: None = None
