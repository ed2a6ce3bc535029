"""Ingestion configuration value types and the ingestion aggregate's state.

The configuration Structs are the shape of the HTTP body (SPEC §3) and of the
``IngestionCreated``/``IngestionUpdated`` events. Secrets are never part of them: a source
carries only ``credential_ref``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

IngestionStatus = Literal["draft", "active", "paused", "error", "deleted"]


class SourceSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the files are.

    Attributes:
        type: ``local`` | ``s3`` | ``azure_blob`` | ``gcs`` | ``ftp`` | ``sftp``.
        path: Folder or prefix URL (``/abs/dir`` for ``local``).
        file_pattern: Glob relative to ``path`` (``**/*.csv``).
        exclude_pattern: Optional glob of files to leave out.
        options: Connector options (region, endpoint_url, ...).
        credential_ref: Id of the encrypted credential record, never the secret itself.
    """

    type: str
    path: str
    file_pattern: str = "**/*"
    exclude_pattern: str | None = None
    options: dict[str, Any] = {}
    credential_ref: str | None = None


class SchemaSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the schema is found and how it may change."""

    inference: str = "auto"
    evolution_mode: str = "add_new_columns"
    schema_json: Any = None
    hints: dict[str, str] = {}
    evolution_enabled: bool | None = None
    """Legacy switch of the original design: true means ``add_new_columns``, false ``fail``.

    It is folded into ``evolution_mode`` when the spec is built or decoded, and never stored.
    """

    def __post_init__(self) -> None:
        if self.evolution_enabled is not None:
            mode = "add_new_columns" if self.evolution_enabled else "fail"
            msgspec.structs.force_setattr(self, "evolution_mode", mode)
            msgspec.structs.force_setattr(self, "evolution_enabled", None)


class FormatSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """File format: ``csv`` | ``json`` | ``parquet`` and reader options."""

    type: str
    options: dict[str, Any] = {}
    schema: SchemaSpec = msgspec.field(default_factory=SchemaSpec)  # factory: OpenAPI hashes defaults


class PartitioningSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Partitioning applied when the table is created.

    Attributes:
        columns: Partition fields: a column name (identity) or a transform ``year(col)``,
            ``month(col)``, ``day(col)``, ``hour(col)``, ``bucket(n, col)``, ``truncate(w, col)``
            (see :mod:`autoloader_contracts.partitioning`).
    """

    enabled: bool = False
    columns: list[str] = []


class DestinationSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Iceberg table ``catalog.database.table`` and how runs write to it.

    Attributes:
        write_mode: ``append`` | ``overwrite`` (each run replaces the table's rows) | ``merge``
            (upsert on ``merge_keys``; the last file, then the last row, wins within a batch).
        merge_keys: Key columns of ``merge`` mode.
        partitioning: Partition spec applied when the table is created.
        lineage_columns: Add ``_source_file``, ``_source_modified_at``, ``_ingest_run_id`` and
            ``_ingested_at`` to every row.
    """

    catalog: str = "lake"
    database: str
    table: str
    write_mode: str = "append"
    merge_keys: list[str] = []
    partitioning: PartitioningSpec = msgspec.field(default_factory=PartitioningSpec)
    lineage_columns: bool = True

    @property
    def identifier(self) -> str:
        """``catalog.database.table``."""
        return f"{self.catalog}.{self.database}.{self.table}"


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When runs happen.

    Attributes:
        frequency: ``manual`` | ``hourly`` | ``daily`` | ``weekly`` | ``cron`` (``custom``, the
            original design's name, is read as ``cron``).
        time: ``HH:MM`` for daily/weekly; for hourly only the minutes count (``00:15`` or ``:15``).
        day_of_week: For weekly: ``monday`` .. ``sunday``.
        timezone: IANA timezone the schedule is read in.
        cron_expression: 5-field cron, for ``cron``.
    """

    frequency: str = "manual"
    time: str | None = None
    day_of_week: str | None = None
    timezone: str = "UTC"
    cron_expression: str | None = None

    def __post_init__(self) -> None:
        # The original design's name for a cron schedule; stored and answered as "cron".
        if self.frequency == "custom":
            msgspec.structs.force_setattr(self, "frequency", "cron")


class DiscoverySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which files a run picks.

    Attributes:
        max_files_per_run: At most this many new files per run; the rest waits (backlog).
        max_bytes_per_run: At most about this many bytes per run; the rest waits (backlog).
        min_file_age_seconds: Files modified more recently are left for a later run.
        include_existing_files: False: files present when the ingestion is activated are recorded
            as skipped and never loaded.
        changed_files: ``ignore`` or ``reload`` a known path that reappears with another identity.
        settle_interval_seconds: FTP/SFTP only: seconds between the two listings whose size and
            mtime must agree before a file is taken (it may still be being written).
        incremental_listing: List only keys after the last one seen (object stores deliver keys in
            lexical order, so date-stamped paths suit it); a full listing still runs every
            ``full_listing_every_runs`` runs to catch keys that sort earlier.
        full_listing_every_runs: Safety-net period of the incremental listing.
    """

    max_files_per_run: int | None = 1000
    max_bytes_per_run: int | None = None
    min_file_age_seconds: int = 0
    include_existing_files: bool = True
    changed_files: str = "ignore"
    settle_interval_seconds: float = 2.0
    incremental_listing: bool = False
    full_listing_every_runs: int = 24


class ErrorsSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a bad file or row does to a run."""

    on_error: str = "skip_file"


class QualitySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Alert thresholds."""

    row_count_threshold: int | None = None
    no_files_alert_hours: int | None = None
    alert_recipients: list[str] = []


class EngineSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the ingestion's cluster gets at the files.

    Attributes:
        read_files: ``auto`` (the cluster reads the files it can reach itself, the loader streams
            the rest through its connector) | ``cluster`` (the cluster always reads the files) |
            ``connector`` (the loader always streams them through its connector).
    """

    read_files: str = "auto"


READ_FILES_MODES = ("auto", "cluster", "connector")
"""Allowed values of :attr:`EngineSpec.read_files`."""


class IngestionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a user configures for one ingestion."""

    name: str
    source: SourceSpec
    format: FormatSpec
    destination: DestinationSpec
    cluster_id: str | None = None
    schedule: ScheduleSpec = ScheduleSpec()
    discovery: DiscoverySpec = DiscoverySpec()
    errors: ErrorsSpec = ErrorsSpec()
    quality: QualitySpec = QualitySpec()
    engine: EngineSpec = EngineSpec()


IMMUTABLE_AFTER_DRAFT = ("source", "format", "destination")
"""Sections that may change only while the ingestion is a draft (SPEC §3 ``PUT``)."""


class IngestionState(msgspec.Struct, frozen=True, kw_only=True):
    """The ingestion aggregate folded from its events.

    Attributes:
        version: Stream sequence of the aggregate's last event (the OCC token).
        schema_version: Number of the latest schema version (0: no schema change detected yet).
        pending_schema_version: The schema version waiting for a resolution (status ``error``), if any.
        accepted_columns: Column -> type name accepted by ``auto_merge`` resolutions.
        ignored_columns: Columns ``ignore`` resolutions dropped for good.
    """

    id: str
    tenant_id: str
    status: IngestionStatus
    config: IngestionConfig
    created_at: datetime
    updated_at: datetime
    version: int = 0
    schema_version: int = 0
    pending_schema_version: int | None = None
    accepted_columns: dict[str, str] = {}
    ignored_columns: list[str] = []
