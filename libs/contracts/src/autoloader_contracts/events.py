"""The public event catalogue (SPEC §4).

Events are immutable msgspec Structs with a stable, versioned type tag such as
``run.completed.v1`` in the ``type`` field. The tag, never the Python import path, is the
contract: its first part is the aggregate, its second the event name. Additive changes follow
msgspec's evolution rules (new fields need defaults); a breaking change is a new version plus an
upcaster in :mod:`autoloader_contracts.codec`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

import msgspec

from autoloader_contracts.catalog import CatalogConfig
from autoloader_contracts.cluster import ClusterConfig
from autoloader_contracts.ingestion import DestinationSpec, ErrorsSpec, FormatSpec, IngestionConfig, SourceSpec

RunTrigger = Literal["manual", "scheduled", "retry", "backfill", "refresh", "reset", "forget"]
"""Why a run exists: ``reset`` and ``forget`` runs only change the file ledger (they load nothing)."""
RunOperationKind = Literal["refresh_full", "refresh_new_only", "backfill", "reset", "forget_files"]
RunStatus = Literal["success", "partial", "failed"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Envelope fields every event carries.

    Attributes:
        event_id: Unique id; also the NATS ``Nats-Msg-Id`` for idempotent appends.
        occurred_at: When it happened (UTC).
        tenant_id: Owning tenant.
        aggregate_id: Id of the aggregate instance (ingestion, run or batch id).
        actor: Who caused it (``key:<id>``, ``service:<name>``, ``admin``).
        correlation_id: Shared by all events of one user action or run.
        causation_id: The event id (or request id) that caused this event.
    """

    aggregate: ClassVar[str] = ""

    event_id: str
    occurred_at: datetime
    tenant_id: str
    aggregate_id: str
    actor: str
    correlation_id: str
    causation_id: str | None = None

    @classmethod
    def type_tag(cls) -> str:
        """Return the stable type tag, e.g. ``run.completed.v1``."""
        return str(cls.__struct_config__.tag)

    @classmethod
    def event_name(cls) -> str:
        """Return the event part of the tag (``completed``), used as the subject's last token."""
        return cls.type_tag().split(".")[1]


# --- ingestion aggregate -------------------------------------------------------------------


class IngestionEvent(Event, frozen=True, kw_only=True):
    """Base of events on the ingestion aggregate."""

    aggregate: ClassVar[str] = "ingestion"


class IngestionCreated(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.created.v1"):
    """An ingestion was created, as a draft or directly active."""

    config: IngestionConfig
    status: Literal["draft", "active"] = "draft"


class IngestionUpdated(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.updated.v1"):
    """An ingestion's configuration changed; ``changed`` names the top-level sections."""

    config: IngestionConfig
    changed: list[str] = []


class IngestionActivated(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.activated.v1"):
    """A draft became active: scheduled runs start."""


class IngestionPaused(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.paused.v1"):
    """Scheduled runs stop until resumed."""


class IngestionResumed(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.resumed.v1"):
    """A paused ingestion is active again."""


class IngestionDeleted(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.deleted.v1"):
    """The ingestion is gone; ``delete_table`` asks the loader to drop its table too."""

    delete_table: bool = False


class ColumnChange(msgspec.Struct, frozen=True, kw_only=True):
    """One column of a schema diff; types are Arrow type names (``int64``, ``string``)."""

    name: str
    old_type: str | None = None
    new_type: str | None = None


class SchemaChange(msgspec.Struct, frozen=True, kw_only=True):
    """The difference between a table's schema and the files': added, removed and retyped columns."""

    added: list[ColumnChange] = []
    removed: list[ColumnChange] = []
    changed: list[ColumnChange] = []


SchemaResolution = Literal["auto_applied", "pending", "ignored_fields", "rescued", "rejected"]


class SchemaChangeDetected(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.schema_change_detected.v1"):
    """Files of a run differ from the table's schema; ``version`` counts the ingestion's changes from 1.

    ``resolution`` is ``pending`` when the mode is ``fail`` (the ingestion goes to error until resolved).
    """

    version: int
    diff: SchemaChange
    files: list[str]
    run_id: str
    mode: str
    resolution: SchemaResolution


class SchemaChangeResolved(IngestionEvent, frozen=True, kw_only=True, tag="ingestion.schema_change_resolved.v1"):
    """A pending schema version was resolved: ``auto_merge`` evolves the table, ``ignore`` drops the new columns."""

    version: int
    action: Literal["auto_merge", "ignore"]
    by: str
    diff: SchemaChange = SchemaChange()
    files: list[str] = []


# --- run aggregate -------------------------------------------------------------------------


class FileRef(msgspec.Struct, frozen=True, kw_only=True):
    """A source file as listed: identity for change detection is path + etag (or size+mtime)."""

    path: str
    size: int
    modified_at: datetime
    etag: str | None = None

    @property
    def identity(self) -> str:
        """The change-detection identity: the etag where the store has one, else size and mtime."""
        return self.etag or f"{self.size}:{self.modified_at.isoformat()}"


def file_identity(size: int, modified_at: datetime, etag: str | None) -> str:
    """:attr:`FileRef.identity` of a listed file, without building the FileRef (a listing's hot path)."""
    return etag or f"{size}:{modified_at.isoformat()}"


class RunError(msgspec.Struct, frozen=True, kw_only=True):
    """One error of a run, with the file (and line) when known."""

    error_type: str
    message: str
    file: str | None = None
    line: int | None = None


class RunMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of a finished run (SPEC §3 Run.metrics)."""

    files_discovered: int = 0
    files_processed: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    records_ingested: int = 0
    records_rejected: int = 0
    bytes_read: int = 0
    duration_seconds: float = 0.0
    error_count: int = 0
    backlog_files: int = 0
    spark_seconds: float = 0.0
    """Spark-side time summed over the run's loaded batches (0 when the embedded engine loaded them)."""
    files_listed: int = 0
    """Entries the run's listing saw (the cost model's LIST requests)."""
    batches: int = 0
    """Batches the run planned (the cost model's per-batch overhead)."""


class RunOperation(msgspec.Struct, frozen=True, kw_only=True):
    """A run-control operation carried by a run (refresh, backfill, reset, forget processed files).

    The operation runs inside its run, so the "one run per ingestion at a time" rule keeps it
    from racing a load.

    Attributes:
        kind: ``refresh_full`` (drop the table, forget the ledger, load everything),
            ``refresh_new_only`` (drop the table, keep the ledger: only files never seen load),
            ``backfill`` (load files modified in ``[window_from, window_to)`` not loaded yet),
            ``reset`` (record every file present now as seen; nothing loads) or
            ``forget_files`` (forget the ledger; nothing loads, the next run loads everything).
        load: False: perform the operation's ledger/table steps only (``auto_run: false``).
        window_from: Backfill window start (file modified time, inclusive).
        window_to: Backfill window end (exclusive).
    """

    kind: RunOperationKind
    load: bool = True
    window_from: datetime | None = None
    window_to: datetime | None = None

    @property
    def drops_table(self) -> bool:
        """Whether the run drops the destination table before it lists the source."""
        return self.kind in ("refresh_full", "refresh_new_only")

    @property
    def forgets_ledger(self) -> bool:
        """Whether the run forgets the file ledger before it lists the source."""
        return self.kind in ("refresh_full", "forget_files")


class RunCost(msgspec.Struct, frozen=True, kw_only=True):
    """What a run was expected to cost and what it cost (see docs/cost.md).

    Attributes:
        estimated: The estimate from the run's planned bytes (None when nothing could be estimated).
        actual: The cost from the run's measured durations and requests.
        currency: ISO 4217 code of the cluster's pricing.
    """

    estimated: float | None = None
    actual: float | None = None
    currency: str = "USD"


class RunEvent(Event, frozen=True, kw_only=True):
    """Base of events on the run aggregate (``aggregate_id`` is the run id)."""

    aggregate: ClassVar[str] = "run"

    ingestion_id: str


class RunRequested(RunEvent, frozen=True, kw_only=True, tag="run.requested.v1"):
    """Someone (a user, the scheduler) asked for a run."""

    trigger: RunTrigger
    scheduled_for: datetime | None = None
    retry_of: str | None = None
    """For ``trigger="retry"``: the run whose failed files this run loads again."""
    operation: RunOperation | None = None
    """For ``refresh``, ``backfill``, ``reset`` and ``forget`` runs: what the run does first."""


class RunStarted(RunEvent, frozen=True, kw_only=True, tag="run.started.v1"):
    """Discovery took the run on."""


class RunSkipped(RunEvent, frozen=True, kw_only=True, tag="run.skipped.v1"):
    """The run did not happen (another run active, ingestion paused or deleted)."""

    reason: str


class FilesDiscovered(RunEvent, frozen=True, kw_only=True, tag="run.files_discovered.v1"):
    """Result of listing and diffing against the ledger."""

    files_listed: int
    files_new: int
    bytes_new: int
    files_changed: int = 0
    backlog_files: int = 0
    backlog_bytes: int = 0
    batch_ids: list[str] = []


class TableDropRequested(RunEvent, frozen=True, kw_only=True, tag="run.table_drop_requested.v1"):
    """A refresh run asks the loader to drop the destination table before it lists the source."""

    destination: DestinationSpec
    cluster_id: str | None = None


class TableDropped(RunEvent, frozen=True, kw_only=True, tag="run.table_dropped.v1"):
    """The loader dropped the destination table of a refresh run (``existed`` False: there was none)."""

    table: str
    existed: bool


class ProcessedFilesCleared(RunEvent, frozen=True, kw_only=True, tag="run.processed_files_cleared.v1"):
    """The run forgot the ingestion's file ledger: every file counts as new again."""

    files: int


class FilesMarkedSeen(RunEvent, frozen=True, kw_only=True, tag="run.files_marked_seen.v1"):
    """A reset run recorded every file present now as seen (``files`` new ledger entries, state skipped)."""

    files: int


class RunCompleted(RunEvent, frozen=True, kw_only=True, tag="run.completed.v1"):
    """The run ended; ``status`` is success, partial or failed."""

    status: RunStatus
    metrics: RunMetrics
    started_at: datetime
    errors: list[RunError] = []
    snapshot_ids: list[int] = []
    cost: RunCost | None = None
    """Estimated and actual cost (None for runs completed before costs were recorded)."""


# --- batch aggregate -----------------------------------------------------------------------


class BatchEvent(Event, frozen=True, kw_only=True):
    """Base of events on the batch aggregate (``aggregate_id`` is the batch id)."""

    aggregate: ClassVar[str] = "batch"

    ingestion_id: str
    run_id: str


class BatchPlanned(BatchEvent, frozen=True, kw_only=True, tag="batch.planned.v1"):
    """A set of claimed files to load and commit as one Iceberg snapshot.

    Self-contained: the loader needs nothing else to load it.
    """

    batch_number: int
    files: list[FileRef]
    source: SourceSpec
    format: FormatSpec
    destination: DestinationSpec
    errors: ErrorsSpec = ErrorsSpec()
    """The bad-data policy (``on_error``) the loader applies to this batch's files."""
    accepted_columns: dict[str, str] = {}
    """Column -> type name that resolved schema versions accepted (mode ``fail`` adds them)."""
    ignored_columns: list[str] = []
    """Columns that resolved schema versions chose to ignore: dropped before writing."""
    cluster_id: str | None = None
    """The cluster that loads the batch (None: the tenant's embedded cluster)."""
    read_files: str = "auto"
    """How the files are read: ``auto`` | ``cluster`` | ``connector`` (see ``EngineSpec``)."""


class FileResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome for one file of a batch."""

    path: str
    rows: int
    bytes: int


class BatchLoaded(BatchEvent, frozen=True, kw_only=True, tag="batch.loaded.v1"):
    """The batch is committed to the table (``already_committed`` on a detected redelivery)."""

    files: list[FileResult]
    rows: int
    bytes: int
    snapshot_id: int | None
    table: str
    duration_seconds: float
    already_committed: bool = False
    failed_files: list[RunError] = []
    """Files left out under ``on_error=skip_file``, each with its reason."""
    rejected_rows: int = 0
    """Rows dropped under ``on_error=skip_row`` (all of them, even beyond ``row_errors``)."""
    row_errors: list[RunError] = []
    """The first dropped rows (capped), each with file, line and reason."""
    spark_seconds: float | None = None
    """Spark-side time of the batch (the cost model's input); None for the embedded engine."""
    read_by: str | None = None
    """Who read the files: ``embedded`` | ``cluster`` | ``connector``."""


class BatchFailed(BatchEvent, frozen=True, kw_only=True, tag="batch.failed.v1"):
    """The batch could not be loaded; none of its files were committed."""

    paths: list[str]
    error: RunError
    attempts: int = 1


# --- baseline aggregate (files present at activation, include_existing_files = false) ----------


class FilesSkipped(Event, frozen=True, kw_only=True, tag="baseline.files_skipped.v1"):
    """Files recorded as skipped, never to be loaded (one event per chunk of at most 1,000 files)."""

    aggregate: ClassVar[str] = "baseline"

    ingestion_id: str
    files: list[FileRef]
    reason: str


# --- alert aggregate (conditions an integration or a user should act on) --------------------------

AlertKind = Literal[
    "run_failed", "schema_change_pending", "no_new_files", "row_count_below_threshold", "backlog_growing"
]


class AlertEvent(Event, frozen=True, kw_only=True):
    """Base of events on the alert aggregate (``aggregate_id`` is the alert id: one per episode)."""

    aggregate: ClassVar[str] = "alert"

    ingestion_id: str
    kind: AlertKind


class AlertRaised(AlertEvent, frozen=True, kw_only=True, tag="alert.raised.v1"):
    """A condition began (a run failed, a schema change waits, no new files for hours, ...).

    ``details`` holds the figures behind it (run id, rows and threshold, hours, backlog sizes).
    """

    message: str
    details: dict[str, str] = {}


class AlertCleared(AlertEvent, frozen=True, kw_only=True, tag="alert.cleared.v1"):
    """The condition of an alert ended; ``reason`` says how."""

    reason: str


# --- cluster aggregate (where batches are loaded) ---------------------------------------------


class ClusterEvent(Event, frozen=True, kw_only=True):
    """Base of events on the cluster aggregate (``aggregate_id`` is the cluster id)."""

    aggregate: ClassVar[str] = "cluster"


class ClusterRegistered(ClusterEvent, frozen=True, kw_only=True, tag="cluster.registered.v1"):
    """A cluster was registered (the tenant's ``embedded`` cluster is registered on first use).

    The token is never in the event: ``config.token_ref`` names its encrypted record.
    """

    config: ClusterConfig


class ClusterUpdated(ClusterEvent, frozen=True, kw_only=True, tag="cluster.updated.v1"):
    """A cluster's configuration changed (or its token was rotated); ``changed`` names the fields."""

    config: ClusterConfig
    changed: list[str] = []


class ClusterRemoved(ClusterEvent, frozen=True, kw_only=True, tag="cluster.removed.v1"):
    """The cluster is gone; no ingestion used it any more."""


# --- catalog aggregate (a tenant's own Iceberg catalog, ADR 0007) -----------------------------


class CatalogEvent(Event, frozen=True, kw_only=True):
    """Base of events on the catalog aggregate (``aggregate_id`` is ``catalog_id(tenant, name)``)."""

    aggregate: ClassVar[str] = "catalog"


class CatalogRegistered(CatalogEvent, frozen=True, kw_only=True, tag="catalog.registered.v1"):
    """A catalog was registered; destinations naming it now live in it.

    The credentials are never in the event: ``config.credential_ref`` names their encrypted record.
    """

    config: CatalogConfig


class CatalogUpdated(CatalogEvent, frozen=True, kw_only=True, tag="catalog.updated.v1"):
    """A catalog's configuration changed (or its credentials were rotated); ``changed`` names the fields."""

    config: CatalogConfig
    changed: list[str] = []


class CatalogRemoved(CatalogEvent, frozen=True, kw_only=True, tag="catalog.removed.v1"):
    """The registration is gone (the catalog's tables are untouched); no ingestion wrote into it any more."""


EVENT_TYPES: tuple[type[Event], ...] = (
    IngestionCreated,
    IngestionUpdated,
    IngestionActivated,
    IngestionPaused,
    IngestionResumed,
    IngestionDeleted,
    SchemaChangeDetected,
    SchemaChangeResolved,
    RunRequested,
    RunStarted,
    RunSkipped,
    FilesDiscovered,
    RunCompleted,
    TableDropRequested,
    TableDropped,
    ProcessedFilesCleared,
    FilesMarkedSeen,
    BatchPlanned,
    BatchLoaded,
    BatchFailed,
    FilesSkipped,
    AlertRaised,
    AlertCleared,
    ClusterRegistered,
    ClusterUpdated,
    ClusterRemoved,
    CatalogRegistered,
    CatalogUpdated,
    CatalogRemoved,
)
"""Every event type in the catalogue; the codec and the AsyncAPI document are built from it."""
