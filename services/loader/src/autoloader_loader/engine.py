"""The loader's engine port: what any engine (embedded PyIceberg, Spark Connect) must do.

Both implementations pass one behaviour suite; handlers and RPC answer only through this port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from autoloader_contracts.events import BatchPlanned, FileResult, RunError, SchemaChange, SchemaResolution
from autoloader_contracts.ingestion import DestinationSpec
from autoloader_core.errors import TerminalError

if TYPE_CHECKING:
    from autoloader_contracts.rpc import PreviewSampleReply
    from autoloader_loader.sampling import SampleFile

MAX_SAMPLE_ROWS = 10_000

SNAPSHOT_INGESTION_ID = "autoloader.ingestion-id"
SNAPSHOT_RUN_ID = "autoloader.run-id"
SNAPSHOT_BATCH_ID = "autoloader.batch-id"
SNAPSHOT_FILE_ROWS = "autoloader.file-rows"
"""Snapshot summary properties every load commits with (the batch id makes loads exactly-once)."""
SNAPSHOT_BATCH_ROWS = "autoloader.batch-rows"
"""On the last snapshot of a batch written in several groups: the batch's total rows."""


@dataclass(frozen=True)
class DetectedChange:
    """A schema change a batch brought and how the ingestion's evolution mode resolved it."""

    change: SchemaChange
    mode: str
    resolution: SchemaResolution


@dataclass(frozen=True)
class BatchResult:
    """What loading one batch produced.

    Attributes:
        files: Rows and bytes per file, in the batch's file order.
        rows: Total rows appended.
        bytes: Total bytes read.
        snapshot_id: The Iceberg snapshot that holds the batch.
        table: ``catalog.database.table``.
        duration_seconds: Wall time of the load.
        already_committed: The batch was found committed by an earlier delivery; nothing was written.
        schema_id: The table's schema id after the load.
        schema_change: The schema change the batch brought and its resolution, if any.
        failed_files: Files the bad-data policy left out, with their reasons.
        rejected_rows: Rows the bad-data policy dropped.
        row_errors: The first dropped rows (capped), with file, line and reason.
        spark_seconds: Time the batch spent in Spark calls (None for the embedded engine).
        read_by: Who read the files: ``embedded``, ``connector`` (streamed into Spark) or ``cluster``.
    """

    files: list[FileResult]
    rows: int
    bytes: int
    snapshot_id: int | None
    table: str
    duration_seconds: float
    already_committed: bool = False
    schema_id: int | None = None
    schema_change: DetectedChange | None = None
    failed_files: list[RunError] = field(default_factory=list)
    rejected_rows: int = 0
    row_errors: list[RunError] = field(default_factory=list)
    spark_seconds: float | None = None
    read_by: str = "embedded"


@dataclass(frozen=True)
class TableRef:
    """One table of one tenant: ``catalog.database.table`` (and the cluster whose catalog holds it, if any)."""

    tenant_id: str
    catalog: str
    database: str
    table: str
    cluster_id: str | None = None

    @property
    def identifier(self) -> str:
        """``catalog.database.table``."""
        return f"{self.catalog}.{self.database}.{self.table}"

    @classmethod
    def of(cls, tenant_id: str, destination: DestinationSpec, cluster_id: str | None = None) -> TableRef:
        """The table an ingestion's destination names."""
        return cls(tenant_id, destination.catalog, destination.database, destination.table, cluster_id)


class LoadError(TerminalError):
    """A batch cannot be loaded as it is; ``error_type`` classifies it for the run's error list."""

    error_type = "load_error"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


class FileLoadError(LoadError):
    """One file of the batch is unreadable (missing, empty, corrupt, outside the allowed roots)."""

    error_type = "file_error"


class SchemaChangeError(LoadError):
    """Evolution mode ``fail``: the files differ from the table; the batch fails with the diff."""

    error_type = "schema_change"

    def __init__(self, message: str, *, change: SchemaChange) -> None:
        super().__init__(message)
        self.change = change


class SchemaConflictError(LoadError):
    """The files do not fit the table's schema in a way Iceberg can evolve to."""

    error_type = "schema_error"


class NeedsLocalCopies(Exception):
    """The engine meant to read a remote batch where it is but cannot: stage the files and load again."""


class LoaderEngine(Protocol):
    """Writes batches into Iceberg tables and answers questions about those tables."""

    async def reads_in_place(self, planned: BatchPlanned) -> bool:
        """Whether the engine reads the batch's files where they are (no local copies needed).

        True for local folders, and for remote files a Spark cluster reads itself. When the
        engine finds out while loading that it cannot, ``load_batch`` raises :class:`NeedsLocalCopies`.

        Raises:
            TerminalError: The ingestion's cluster no longer exists.
            TransientError: The cluster registry did not answer.
        """
        ...

    async def find_committed(self, planned: BatchPlanned) -> BatchResult | None:
        """Return the earlier result when the table already holds this batch (a redelivery), else None.

        Raises:
            TransientError: The catalog is unavailable.
        """
        ...

    async def load_batch(self, planned: BatchPlanned, staged: Mapping[str, Path] | None = None) -> BatchResult:
        """Load every file of ``planned`` and commit them as one snapshot, exactly once.

        ``staged`` maps each file's relative path to a local copy (remote sources); None reads a
        local source's files in place.

        A batch whose id is already in the table's snapshot summaries is not written again: the
        earlier result comes back with ``already_committed=True``.

        Raises:
            FileLoadError: A file is unreadable (the batch fails; nothing is committed).
            SchemaConflictError: The data cannot be made to fit the table.
            LoadError: Any other reason retrying cannot fix (unsupported source, bad destination).
            TransientError: The catalog, warehouse or source is unavailable; retry later.
        """
        ...

    async def drop_table(self, ref: TableRef) -> bool:
        """Drop the table and its files; return False when it did not exist.

        Raises:
            TransientError: The catalog or warehouse is unavailable.
        """
        ...

    async def table_info(self, ref: TableRef) -> dict[str, Any]:
        """Describe the table: identifier, location, format version, schema, row count, snapshots.

        Raises:
            NotFoundError: The table does not exist yet.
            TransientError: The catalog is unavailable.
        """
        ...

    async def table_sample(self, ref: TableRef, *, limit: int, columns: list[str] | None) -> list[dict[str, Any]]:
        """Return up to ``limit`` rows (only ``columns`` when given) as JSON-able dicts.

        Raises:
            NotFoundError: The table does not exist yet.
            ValidationFailed: A requested column is not in the table.
            TransientError: The catalog is unavailable.
        """
        ...

    async def preview(
        self, planned: BatchPlanned, files: Mapping[str, SampleFile], *, sample_rows: int, now: datetime
    ) -> PreviewSampleReply:
        """Read sampled files of ``planned`` as its load would write them; write nothing.

        Raises:
            TransientError: The catalog is unavailable.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
