"""Request/reply contracts between services: subjects and versioned request and reply Structs.

Requests go over core NATS (never stored in the event log). Each operation has one subject
(with its version) and one request and one reply type; the serving side decodes by the request
type, so a malformed request is refused with field errors before any handler runs. Additive
changes follow the same rules as events (new fields need defaults); a breaking change is a new
subject version.

Secrets never travel in clear: an unsaved configuration's credentials are sealed by the API
with the installation's secret keys (``sealed_credentials``) and opened by the serving service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from autoloader_contracts.events import FileRef, SchemaChange
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_contracts.subjects import rpc_subject

SELECT_FILES = rpc_subject("discovery", "select_files.v1")
"""Discovery: which files the next run (or a run-control operation) would take; nothing is written."""
PREVIEW_SAMPLE = rpc_subject("loader", "preview_sample.v1")
"""Loader: read a sample of files as the next run would write them; nothing is written."""
SETTLE_BATCH = rpc_subject("loader", "settle_batch.v1")
"""Loader: record the outcome of a batch it gave up without one (the run watchdog asks)."""
TEST_CATALOG = rpc_subject("loader", "test_catalog.v1")
"""Loader: open a tenant's registered catalog, list its namespaces and check its warehouse."""

SelectionMode = Literal["next_run", "refresh_full", "refresh_new_only", "backfill", "reset", "forget_files"]


class _Message(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request/reply payloads."""


class SelectFilesRequest(_Message, frozen=True, kw_only=True):
    """Ask discovery what a run would take.

    Attributes:
        tenant_id: The caller's tenant.
        config: The configuration (saved or not).
        ingestion_id: The saved ingestion whose ledger counts (None: an unsaved configuration,
            for which every listed file is new).
        sealed_credentials: The unsaved configuration's credentials, sealed by the API; None uses
            ``config.source.credential_ref`` (or the ambient identity).
        mode: ``next_run`` or the run-control operation whose files are wanted.
        window_from: Backfill window start (file modified time, inclusive).
        window_to: Backfill window end (exclusive).
        first: How many of the selected files to list in the reply.
        listing_cap: Listing entries looked at beyond those the run takes before the count stops
            (the reply then says the count is a lower bound).
    """

    tenant_id: str
    config: IngestionConfig
    ingestion_id: str | None = None
    sealed_credentials: str | None = None
    mode: SelectionMode = "next_run"
    window_from: datetime | None = None
    window_to: datetime | None = None
    first: int = 20
    listing_cap: int = 10_000


class SelectFilesReply(_Message, frozen=True, kw_only=True):
    """What a run would take.

    Attributes:
        reachable: The source answered.
        authorised: The credentials were accepted and the path could be listed.
        message: What was found, or what is wrong and what to do.
        files: The files the run would take, in the order it would load them (at most ``first``).
        count: How many files the run would take.
        bytes: Their total size.
        count_is_lower_bound: The listing stopped early: there may be more files (backlog).
        listed: Listing entries looked at.
        already_known: Listed files the ledger already holds (loaded, failed or skipped).
        changed: Known paths listed with another identity (re-uploaded files).
        unsettled: New files left for a later run by the settle rule.
        backlog_files: New files left for a later run by the per-run limits.
        backlog_bytes: Their size.
        marked_seen: For ``reset``: files that would be recorded as seen.
    """

    reachable: bool
    authorised: bool
    message: str
    files: list[FileRef] = []
    count: int = 0
    bytes: int = 0
    count_is_lower_bound: bool = False
    listed: int = 0
    already_known: int = 0
    changed: int = 0
    unsettled: int = 0
    backlog_files: int = 0
    backlog_bytes: int = 0
    marked_seen: int = 0


class PreviewSampleRequest(_Message, frozen=True, kw_only=True):
    """Ask the loader to read a sample of files as the next run would write them.

    Attributes:
        tenant_id: The caller's tenant.
        config: The configuration (saved or not).
        files: The files to sample, in load order (the first ones a run would take).
        sealed_credentials: As in :class:`SelectFilesRequest`.
        sample_rows: Rows to return (1..100).
        sample_bytes: Bytes to read at most, over all files.
        accepted_columns: Columns resolved schema versions accepted (a saved ingestion's).
        ignored_columns: Columns resolved schema versions ignored.
    """

    tenant_id: str
    config: IngestionConfig
    files: list[FileRef]
    sealed_credentials: str | None = None
    sample_rows: int = 20
    sample_bytes: int = 16 * 1024 * 1024
    accepted_columns: dict[str, str] = {}
    ignored_columns: list[str] = []


class ColumnPreview(_Message, frozen=True, kw_only=True):
    """One column as it would be written: Iceberg type name and the share of nulls in the sample."""

    name: str
    type: str
    nullable: bool = True
    null_percent: float = 0.0


class MalformedRecord(_Message, frozen=True, kw_only=True):
    """A record (or a whole file) of the sample that the bad-data policy would reject."""

    file: str
    message: str
    line: int | None = None


class PreviewSampleReply(_Message, frozen=True, kw_only=True):
    """The sample as the next run would write it.

    Attributes:
        columns: The table's columns after the load (existing table evolved by the mode, or the
            table the first load would create), lineage columns included.
        rows: The first rows, typed as written (JSON values).
        table_exists: Whether the destination table exists.
        diff: The files' schema against the table's (empty for a new table).
        action: ``create_table``, ``none``, ``add_columns``, ``rescue``, ``ignore_fields`` or ``fail``.
        action_message: One sentence on what the evolution mode would do.
        malformed_count: Malformed records (or unreadable files) found in the sample.
        malformed: The first of them, with file and line.
        files_sampled: Files read.
        bytes_sampled: Bytes of those files read.
        rows_sampled: Rows read.
        whole_files_bytes: Size of the files read completely (their rows are exact, not estimated).
        whole_files_rows: Rows of the files read completely.
        warnings: Things the user should know (a file too large to sample, a truncated read).
    """

    columns: list[ColumnPreview]
    rows: list[dict[str, Any]]
    table_exists: bool
    diff: SchemaChange = SchemaChange()
    action: str = "none"
    action_message: str = ""
    malformed_count: int = 0
    malformed: list[MalformedRecord] = []
    files_sampled: int = 0
    bytes_sampled: int = 0
    rows_sampled: int = 0
    whole_files_bytes: int = 0
    whole_files_rows: int = 0
    warnings: list[str] = []


class SettleBatchRequest(_Message, frozen=True, kw_only=True):
    """Ask the loader to settle a batch it is done with but that has no outcome event.

    Attributes:
        tenant_id: The batch's tenant.
        batch_id: The batch (its ``BatchPlanned`` is read from the event log).
        reason: Why the batch is being settled (becomes the failure message when nothing was committed).
    """

    tenant_id: str
    batch_id: str
    reason: str


class SettleBatchReply(_Message, frozen=True, kw_only=True):
    """The batch's outcome, now recorded in the event log.

    Attributes:
        outcome: ``loaded`` (its snapshot was found in the table: ``BatchLoaded``) or ``failed``
            (nothing was committed: ``BatchFailed`` with the reason).
        already_recorded: The outcome event existed before this request.
    """

    outcome: Literal["loaded", "failed"]
    already_recorded: bool = False


class TestCatalogRequest(_Message, frozen=True, kw_only=True):
    """Ask the loader to check a registered catalog with its stored credentials.

    Attributes:
        tenant_id: The catalog's tenant.
        catalog_id: The catalog (its registration is read from the event log).
    """

    __test__ = False  # a contract type, not a pytest class

    tenant_id: str
    catalog_id: str


class TestCatalogReply(_Message, frozen=True, kw_only=True):
    """What the check found (a failed check is a reply, not an error).

    Attributes:
        reachable: The catalog answered.
        authenticated: It accepted the credentials (None when it was not reached).
        namespaces: Its top-level namespaces, dotted (None when it could not list them).
        warehouse_found: The configured warehouse's bucket exists (None when there is no
            ``s3://`` warehouse to check).
        message: One sentence for the user: what worked, or what failed and what to fix.
        error_kind: ``unreachable``, ``unauthorized``, ``warehouse_missing`` or ``error``; None on success.
        round_trip_ms: Time the catalog took to list its namespaces.
    """

    __test__ = False

    reachable: bool
    authenticated: bool | None = None
    namespaces: list[str] | None = None
    warehouse_found: bool | None = None
    message: str
    error_kind: str | None = None
    round_trip_ms: int | None = None


RPC_TYPES: tuple[type[_Message], ...] = (
    SelectFilesRequest,
    SelectFilesReply,
    PreviewSampleRequest,
    PreviewSampleReply,
    SettleBatchRequest,
    SettleBatchReply,
    TestCatalogRequest,
    TestCatalogReply,
)
"""Every request/reply type (golden fixtures cover each)."""
