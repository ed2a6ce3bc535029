"""Preview / test mode: what the next run of a configuration would load, and what it would cost.

Nothing is written anywhere (no event, no ledger row, no table, no stored credential): discovery
answers which files the run would take with the run's own rules, the loader reads the first few
of them through the load's own pipeline, and the cost model prices the run.
"""

from __future__ import annotations

from autoloader_api.commands import IngestionCommands
from autoloader_api.costing import CostEstimator, RunSize
from autoloader_api.credentials import SourceCredentials
from autoloader_api.loader_gateway import PreviewGateway
from autoloader_api.preview_schemas import (
    PreviewConnection,
    PreviewDiff,
    PreviewFiles,
    PreviewMalformed,
    PreviewOut,
    PreviewSampled,
)
from autoloader_api.schemas import CreateIngestion, SampleFile
from autoloader_api.tenants import Caller
from autoloader_contracts.cost import CostEstimate
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_contracts.rpc import PreviewSampleReply, PreviewSampleRequest, SelectFilesReply, SelectFilesRequest
from autoloader_core.errors import FieldError, ValidationFailed

SAMPLE_FILES = 5
"""Files read for a preview (at most)."""
MAX_SAMPLE_ROWS = 100


class Previewer:
    """The preview use cases of ``POST /ingestions/test`` and ``POST /ingestions/{id}/preview``."""

    def __init__(
        self,
        *,
        commands: IngestionCommands,
        gateway: PreviewGateway,
        credentials: SourceCredentials,
        costs: CostEstimator,
    ) -> None:
        self._commands = commands
        self._gateway = gateway
        self._credentials = credentials
        self._costs = costs

    async def test(self, caller: Caller, body: CreateIngestion, *, sample_rows: int) -> PreviewOut:
        """Preview an unsaved configuration (its credentials are used, never stored).

        Raises:
            ValidationFailed: The configuration is invalid, or ``sample_rows`` is out of range.
        """
        _check_rows(sample_rows)
        config, sent = await self._commands.prepare(caller, body)
        sealed = self._credentials.seal(caller.tenant_id, sent) if sent else None
        return await self._preview(caller, config, sealed=sealed, sample_rows=sample_rows)

    async def preview(self, caller: Caller, ingestion_id: str, *, sample_rows: int) -> PreviewOut:
        """Preview a saved ingestion's next run (its ledger decides which files are new).

        Raises:
            NotFoundError: No such ingestion.
            ValidationFailed: ``sample_rows`` is out of range.
        """
        _check_rows(sample_rows)
        state = await self._commands.state(caller, ingestion_id)
        return await self._preview(
            caller,
            state.config,
            ingestion_id=state.id,
            sample_rows=sample_rows,
            accepted=state.accepted_columns,
            ignored=state.ignored_columns,
        )

    async def select(
        self, caller: Caller, config: IngestionConfig, *, ingestion_id: str | None = None, sealed: str | None = None
    ) -> SelectFilesReply:
        """Which files the next run of ``config`` would take (used by the cost estimate too)."""
        return await self._gateway.select_files(
            SelectFilesRequest(
                tenant_id=caller.tenant_id, config=config, ingestion_id=ingestion_id, sealed_credentials=sealed
            )
        )

    async def _preview(
        self,
        caller: Caller,
        config: IngestionConfig,
        *,
        sample_rows: int,
        ingestion_id: str | None = None,
        sealed: str | None = None,
        accepted: dict[str, str] | None = None,
        ignored: list[str] | None = None,
    ) -> PreviewOut:
        selection = await self.select(caller, config, ingestion_id=ingestion_id, sealed=sealed)
        sample = None
        if selection.reachable and selection.authorised:  # also without files: it tells whether the table exists
            sample = await self._gateway.preview_sample(
                PreviewSampleRequest(
                    tenant_id=caller.tenant_id,
                    config=config,
                    files=selection.files[:SAMPLE_FILES],
                    sealed_credentials=sealed,
                    sample_rows=sample_rows,
                    accepted_columns=accepted or {},
                    ignored_columns=ignored or [],
                )
            )
        cost = None
        if selection.reachable and selection.authorised:
            size = RunSize(bytes=selection.bytes, files=selection.count, listed=selection.listed)
            cost = await self._costs.estimate(caller, config, size, ingestion_id=ingestion_id)
        return _preview_out(selection, sample, cost)


def _check_rows(sample_rows: int) -> None:
    if not 1 <= sample_rows <= MAX_SAMPLE_ROWS:
        raise ValidationFailed(
            [FieldError("sample_rows", f"sample_rows must be between 1 and {MAX_SAMPLE_ROWS}, got {sample_rows}")]
        )


def estimated_records(selection: SelectFilesReply, sample: PreviewSampleReply | None) -> int | None:
    """Rows the run would load: exact for the files read whole, by the sample's rows per byte for the rest."""
    if selection.count == 0:
        return 0
    if sample is None:
        return None
    rest = max(0, selection.bytes - sample.whole_files_bytes)
    if rest == 0:
        return sample.whole_files_rows
    if sample.whole_files_bytes > 0:
        per_byte = sample.whole_files_rows / sample.whole_files_bytes
    elif sample.bytes_sampled > 0:
        per_byte = sample.rows_sampled / sample.bytes_sampled
    else:
        return None
    return sample.whole_files_rows + round(per_byte * rest)


def _preview_out(
    selection: SelectFilesReply, sample: PreviewSampleReply | None, cost: CostEstimate | None
) -> PreviewOut:
    files = PreviewFiles(
        count=selection.count,
        bytes=selection.bytes,
        count_is_lower_bound=selection.count_is_lower_bound,
        listed=selection.listed,
        already_known=selection.already_known,
        changed=selection.changed,
        unsettled=selection.unsettled,
        backlog_files=selection.backlog_files,
        backlog_bytes=selection.backlog_bytes,
        first=[SampleFile(path=f.path, size=f.size, modified_at=f.modified_at) for f in selection.files],
    )
    warnings = list(sample.warnings) if sample is not None else []
    if selection.count_is_lower_bound:
        warnings.append(f"the listing stopped after {selection.listed} entries: at least {selection.count} files")
    return PreviewOut(
        connection=PreviewConnection(
            reachable=selection.reachable, authorised=selection.authorised, message=selection.message
        ),
        files=files,
        file_count=selection.count,
        schema=list(sample.columns) if sample is not None else [],
        sample_data=list(sample.rows) if sample is not None else [],
        schema_diff=_diff(sample),
        malformed=PreviewMalformed(
            count=sample.malformed_count if sample is not None else 0,
            records=list(sample.malformed) if sample is not None else [],
        ),
        estimated_records=estimated_records(selection, sample),
        sampled=PreviewSampled(
            files=sample.files_sampled if sample is not None else 0,
            bytes=sample.bytes_sampled if sample is not None else 0,
            rows=sample.rows_sampled if sample is not None else 0,
        ),
        cost=cost,
        warnings=warnings,
    )


def _diff(sample: PreviewSampleReply | None) -> PreviewDiff:
    if sample is None:
        return PreviewDiff(
            table_exists=False, added=[], removed=[], changed=[], action="none", message="no files to compare"
        )
    return PreviewDiff(
        table_exists=sample.table_exists,
        added=list(sample.diff.added),
        removed=list(sample.diff.removed),
        changed=list(sample.diff.changed),
        action=sample.action,
        message=sample.action_message,
    )
