"""Request and response bodies of the HTTP API (msgspec Structs; SPEC §3 is the contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from autoloader_contracts.cluster import ClusterConfig, ClusterPricing
from autoloader_contracts.ingestion import (
    DestinationSpec,
    DiscoverySpec,
    EngineSpec,
    ErrorsSpec,
    FormatSpec,
    IngestionConfig,
    QualitySpec,
    ScheduleSpec,
    SourceSpec,
)


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are refused so typos do not pass silently."""


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Base of response bodies."""


# --- tenants ------------------------------------------------------------------------------


class CreateTenant(_In, frozen=True, kw_only=True):
    """``POST /api/v1/admin/tenants`` body."""

    name: str


class TenantCreated(_Out, frozen=True, kw_only=True):
    """The new tenant and its first API key (shown once; only its hash is stored)."""

    tenant_id: str
    name: str
    api_key: str


# --- ingestions ---------------------------------------------------------------------------


class SourceIn(_In, frozen=True, kw_only=True):
    """Where the files are; ``credentials`` are write-only (SPEC §3 lists the fields per type).

    In an update, omitted ``credentials`` keep the stored ones (same source type), ``{}`` removes
    them, and a value equal to the mask ``"********"`` keeps that field's stored value.
    """

    type: str
    path: str
    file_pattern: str = "**/*"
    exclude_pattern: str | None = None
    options: dict[str, Any] = {}
    credentials: dict[str, Any] | None = None

    def to_spec(self) -> SourceSpec:
        """Return the stored form (never carries the credentials themselves)."""
        return SourceSpec(
            type=self.type,
            path=self.path,
            file_pattern=self.file_pattern,
            exclude_pattern=self.exclude_pattern,
            options=self.options,
        )


class CreateIngestion(_In, frozen=True, kw_only=True):
    """``POST /api/v1/ingestions`` body; ``activate: true`` creates it active."""

    name: str
    source: SourceIn
    format: FormatSpec
    destination: DestinationSpec
    cluster_id: str | None = None
    schedule: ScheduleSpec = ScheduleSpec()
    discovery: DiscoverySpec = DiscoverySpec()
    errors: ErrorsSpec = ErrorsSpec()
    quality: QualitySpec = msgspec.field(default_factory=QualitySpec)
    engine: EngineSpec = msgspec.field(default_factory=EngineSpec)
    activate: bool = False

    def to_config(self) -> IngestionConfig:
        """Return the configuration to store."""
        return IngestionConfig(
            name=self.name,
            source=self.source.to_spec(),
            format=self.format,
            destination=self.destination,
            cluster_id=self.cluster_id,
            schedule=self.schedule,
            discovery=self.discovery,
            errors=self.errors,
            quality=self.quality,
            engine=self.engine,
        )


class UpdateIngestion(_In, frozen=True, kw_only=True):
    """``PUT /api/v1/ingestions/{id}`` body: only the sections sent change (each replaced whole)."""

    name: str | UnsetType = UNSET
    cluster_id: str | UnsetType | None = UNSET
    source: SourceIn | UnsetType = UNSET
    format: FormatSpec | UnsetType = UNSET
    destination: DestinationSpec | UnsetType = UNSET
    schedule: ScheduleSpec | UnsetType = UNSET
    discovery: DiscoverySpec | UnsetType = UNSET
    errors: ErrorsSpec | UnsetType = UNSET
    quality: QualitySpec | UnsetType = UNSET
    engine: EngineSpec | UnsetType = UNSET

    def apply_to(self, config: IngestionConfig) -> IngestionConfig:
        """Return ``config`` with the sections of this body replaced."""
        changes: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is UNSET:
                continue
            changes[name] = value.to_spec() if isinstance(value, SourceIn) else value
        return msgspec.structs.replace(config, **changes)

    @property
    def credentials_given(self) -> bool:
        """Whether the body carried ``source.credentials``."""
        return isinstance(self.source, SourceIn) and self.source.credentials is not None


class SourceOut(_Out, frozen=True, kw_only=True):
    """A source as shown to users: ``credentials`` shows which fields are set, each as ``"********"``."""

    type: str
    path: str
    file_pattern: str
    exclude_pattern: str | None
    options: dict[str, Any]
    credentials: dict[str, str] = {}


class AlertBrief(_Out, frozen=True, kw_only=True):
    """An active alert of an ingestion (``GET /alerts`` has the details)."""

    id: str
    kind: str
    message: str
    raised_at: datetime


class CurrentRun(_Out, frozen=True, kw_only=True):
    """The ingestion's run in progress (``GET …/runs/{run_id}`` has its files and counts)."""

    run_id: str
    status: str
    """``queued`` or ``running``."""
    trigger: str
    requested_at: datetime
    started_at: datetime | None = None


class IngestionMetadata(_Out, frozen=True, kw_only=True):
    """Derived facts about an ingestion."""

    next_run_time: datetime | None = None
    schedule_description: str | None = None
    """The schedule in words, e.g. "Every day at 02:00 (Europe/Berlin)"."""
    last_run_id: str | None = None
    last_run_time: datetime | None = None
    last_run_status: str | None = None
    schema_version: int | None = None
    estimated_monthly_cost: float | None = None
    """``total_monthly`` of the cost model from the ingestion's recent runs (null before its first run)."""
    backlog_files: int = 0
    """New files the last run left for later (per-run limits or not yet settled)."""
    health: str = "healthy"
    """``healthy``, ``warning`` (an active alert or a partial last run), ``error``, ``paused`` or ``draft``."""
    active_alerts: list[AlertBrief] = []
    current_run: CurrentRun | None = None
    """The queued or running run, if any (null when nothing is in progress)."""


class IngestionOut(_Out, frozen=True, kw_only=True):
    """One ingestion."""

    id: str
    name: str
    status: str
    cluster_id: str | None
    source: SourceOut
    format: FormatSpec
    destination: DestinationSpec
    schedule: ScheduleSpec
    discovery: DiscoverySpec
    errors: ErrorsSpec
    quality: QualitySpec
    engine: EngineSpec
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    metadata: IngestionMetadata


class IngestionPage(_Out, frozen=True, kw_only=True):
    """A page of ingestions."""

    items: list[IngestionOut]
    next_cursor: str | None


class CheckConnection(_In, frozen=True, kw_only=True):
    """``POST /api/v1/ingestions/test-connection`` body: ``{source}``, or a whole create body.

    Only ``source`` is used (its credentials are used for this check and not stored); the other
    sections of a create body are accepted and ignored.
    """

    source: SourceIn
    name: Any = None
    cluster_id: Any = None
    format: Any = None
    destination: Any = None
    schedule: Any = None
    discovery: Any = None
    errors: Any = None
    quality: Any = None
    engine: Any = None
    activate: Any = None


class ExplainSchedule(_In, frozen=True, kw_only=True):
    """Body of ``POST /schedules/explain``."""

    schedule: ScheduleSpec
    count: int = 5
    """How many upcoming run times to list (1..50)."""


class ScheduleExplanation(_Out, frozen=True, kw_only=True):
    """A schedule in words and its next run times."""

    frequency: str
    cron: str | None
    """The 5-field cron equivalent (null for manual)."""
    timezone: str
    description: str
    next_runs: list[datetime]
    """Upcoming run times (UTC), soonest first; empty for manual."""


class SampleFile(_Out, frozen=True, kw_only=True):
    """One file found by a connection test."""

    path: str
    size: int
    modified_at: datetime


class ConnectionResult(_Out, frozen=True, kw_only=True):
    """What a connection test found (every failure is reported here, with HTTP 200)."""

    reachable: bool
    authorised: bool
    file_count: int
    total_bytes: int
    capped: bool
    sample: list[SampleFile]
    message: str


class RunAccepted(_Out, frozen=True, kw_only=True):
    """``POST .../run`` answer."""

    run_id: str
    status: str = "accepted"


# --- runs and files -----------------------------------------------------------------------


class RunCost(_Out, frozen=True, kw_only=True):
    """Estimated and actual cost of a run (docs/cost.md); null for runs still going or from before costs."""

    estimated: float | None = None
    actual: float | None = None
    currency: str = "USD"


class FileOut(_Out, frozen=True, kw_only=True):
    """One file of the ledger."""

    path: str
    size: int
    etag: str | None
    modified_at: datetime
    first_seen_at: datetime
    run_id: str | None
    """None for files skipped at activation (include_existing_files = false)."""
    batch_id: str | None
    state: str
    rows: int | None
    snapshot_id: int | None
    error: str | None


class RunOut(_Out, frozen=True, kw_only=True):
    """One run (``files`` only in ``GET .../runs/{run_id}``)."""

    id: str
    ingestion_id: str
    status: str
    trigger: str
    scheduled_for: datetime | None
    requested_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    skip_reason: str | None
    metrics: dict[str, Any]
    errors: list[dict[str, Any]]
    schema_version: int | None = None
    snapshot_ids: list[int]
    cost: RunCost = RunCost()
    files: list[FileOut] | UnsetType = UNSET


class RunPage(_Out, frozen=True, kw_only=True):
    """A page of runs, newest first."""

    items: list[RunOut]
    next_cursor: str | None


class FilePage(_Out, frozen=True, kw_only=True):
    """A page of the file ledger."""

    items: list[FileOut]
    next_cursor: str | None


# --- operations ---------------------------------------------------------------------------


class ServiceStatus(_Out, frozen=True, kw_only=True):
    """One live service instance, from its heartbeat."""

    service: str
    instance: str
    pid: int
    started_at: datetime
    last_heartbeat: datetime
    age_seconds: float
    status: str
    """``ready``, ``starting`` or ``stale``."""
    state: str = "serving"
    """What the instance last said: ``starting`` or ``serving``."""


class DeadLetterOut(_Out, frozen=True, kw_only=True):
    """A message a service gave up on, and why (see ``docs/operations.md``, dead letters)."""

    consumer: str
    kind: str
    reason: str
    subject: str
    stream_seq: int
    attempts: int
    dead_at: datetime
    event_type: str | None = None
    event_id: str | None = None
    tenant_id: str | None = None


class DeadLettersOut(_Out, frozen=True, kw_only=True):
    """How many dead letters are kept, and the newest ones."""

    total: int
    latest: list[DeadLetterOut]


class StuckRun(_Out, frozen=True, kw_only=True):
    """A run running for longer than ``AUTOLOADER_STUCK_RUN_SECONDS``."""

    run_id: str
    tenant_id: str
    ingestion_id: str
    started_at: datetime
    running_seconds: float


class StatusOut(_Out, frozen=True, kw_only=True):
    """``GET /api/v1/status``."""

    services: list[ServiceStatus]
    dead_letters: DeadLettersOut | None = None
    stuck_runs: list[StuckRun] = []


class Readiness(_Out, frozen=True, kw_only=True):
    """``GET /health/ready``: ``ok`` or what is down.

    ``checks`` names every check (``nats``, ``postgres``, and each service) with ``ok`` or why
    not; ``detail`` sums up the failed ones (absent when ready).
    """

    status: str
    checks: dict[str, str]
    detail: str | UnsetType = UNSET


# --- schema versions -----------------------------------------------------------------------


class ResolveSchemaVersion(_In, frozen=True, kw_only=True):
    """``POST .../schema-versions/{version}/resolve`` body.

    ``auto_merge`` adds the version's new columns (and type changes) to the table; ``ignore``
    drops its new columns from this and every later load. Either way the files that failed on
    the change are loaded by the next run.
    """

    action: Literal["auto_merge", "ignore"]


class SchemaVersionOut(_Out, frozen=True, kw_only=True):
    """One detected schema change of an ingestion and its resolution."""

    version: int
    status: str
    """``pending`` (waiting for a resolution), ``applied`` (handled by the mode) or ``resolved``."""
    resolution: str
    diff: dict[str, Any]
    files: list[str]
    run_id: str
    mode: str
    detected_at: datetime
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class SchemaVersionPage(_Out, frozen=True, kw_only=True):
    """A page of schema versions, newest first."""

    items: list[SchemaVersionOut]
    next_cursor: str | None


# --- clusters ------------------------------------------------------------------------------


class CreateCluster(_In, frozen=True, kw_only=True):
    """``POST /api/v1/clusters`` body; ``token`` is write-only (stored encrypted, shown as ``"********"``)."""

    name: str
    kind: str
    url: str | None = None
    token: str | None = None
    catalog: str = "lake"
    commit_strategy: str = "staged"
    pricing: ClusterPricing = msgspec.field(default_factory=ClusterPricing)
    options: dict[str, Any] = {}

    def to_config(self) -> ClusterConfig:
        """Return the configuration to store (never carries the token itself)."""
        return ClusterConfig(
            name=self.name,
            kind=self.kind,
            url=self.url,
            catalog=self.catalog,
            commit_strategy=self.commit_strategy,
            pricing=self.pricing,
            options=self.options,
        )


class UpdateCluster(_In, frozen=True, kw_only=True):
    """``PUT /api/v1/clusters/{id}`` body: only the fields sent change.

    ``token``: omitted or ``"********"`` keeps the stored token, a new value rotates it, ``null``
    or ``""`` removes it.
    """

    name: str | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    url: str | UnsetType | None = UNSET
    token: str | UnsetType | None = UNSET
    catalog: str | UnsetType = UNSET
    commit_strategy: str | UnsetType = UNSET
    pricing: ClusterPricing | UnsetType = UNSET
    options: dict[str, Any] | UnsetType = UNSET

    def apply_to(self, config: ClusterConfig) -> ClusterConfig:
        """Return ``config`` with the fields of this body replaced (the token is handled apart)."""
        changes = {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if name != "token" and getattr(self, name) is not UNSET
        }
        return msgspec.structs.replace(config, **changes)


class ClusterOut(_Out, frozen=True, kw_only=True):
    """One cluster; ``token`` is ``"********"`` when one is stored, else null."""

    id: str
    name: str
    kind: str
    url: str | None
    token: str | None
    catalog: str
    commit_strategy: str
    pricing: ClusterPricing
    options: dict[str, Any]
    ingestion_count: int
    """Live ingestions that load on this cluster."""
    version: int
    created_at: datetime
    updated_at: datetime


class ClusterPage(_Out, frozen=True, kw_only=True):
    """A page of clusters, oldest first (the embedded cluster comes first)."""

    items: list[ClusterOut]
    next_cursor: str | None


class ClusterConnectionResult(_Out, frozen=True, kw_only=True):
    """``POST /api/v1/clusters/{id}/test-connection`` answer (a failure is a report, not an error)."""

    reachable: bool
    kind: str
    message: str
    authenticated: bool | None = None
    spark_version: str | None = None
    catalogs: list[str] | None = None
    catalog_found: bool | None = None
    round_trip_ms: float | None = None
    error_kind: str | None = None
    """dns, refused, tls, unauthenticated, version, timeout or other; null when every check passed."""


# --- capabilities -------------------------------------------------------------------------


class SourceTypeCapabilities(_Out, frozen=True, kw_only=True):
    """What one source type accepts."""

    credential_fields: list[str]
    """Names allowed in ``source.credentials`` (write-only)."""
    options: list[str]
    """Names allowed in ``source.options``."""
    required_options: list[str] = []
    requires_credentials: bool = False
    """True when there is no ambient identity to fall back on (e.g. SFTP)."""


class Capabilities(_Out, frozen=True, kw_only=True):
    """``GET /capabilities``: the values this API accepts, so a client (the wizard) offers exactly these."""

    source_types: dict[str, SourceTypeCapabilities]
    formats: dict[str, list[str]]
    """Format type -> the ``format.options`` names its reader understands."""
    evolution_modes: list[str]
    on_error: list[str]
    write_modes: list[str]
    changed_files: list[str]
    frequencies: list[str]
