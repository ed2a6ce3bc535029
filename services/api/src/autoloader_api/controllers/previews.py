"""Preview and cost: ``POST /ingestions/test``, ``/ingestions/{id}/preview``, ``/ingestions/estimate-cost``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from autoloader_api.commands import IngestionCommands
from autoloader_api.costing import CostEstimator, RunSize
from autoloader_api.credentials import SourceCredentials
from autoloader_api.pagination import bounded
from autoloader_api.preview_schemas import EstimateCostIn, PreviewOut
from autoloader_api.previewing import MAX_SAMPLE_ROWS, Previewer
from autoloader_api.schemas import CreateIngestion
from autoloader_api.tenants import Caller
from autoloader_contracts.cost import CostEstimate
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_core.errors import FieldError, ValidationFailed

DEFAULT_SAMPLE_ROWS = 20


class PreviewController(Controller):
    """What a configuration would load and cost; nothing is ever written."""

    path = "/ingestions"
    tags = ["preview and cost"]

    @post("/test", status_code=200, summary="Preview an unsaved configuration (same body as create)")
    async def test(
        self,
        *,
        caller: NamedDependency[Caller],
        previewer: NamedDependency[Previewer],
        data: JSONBody[CreateIngestion],
        sample_rows: Annotated[int, bounded(1, MAX_SAMPLE_ROWS, "sample rows")] = DEFAULT_SAMPLE_ROWS,
    ) -> PreviewOut:
        """Connection, the files the first run would take, schema, sample rows, schema diff, malformed records, cost.

        A source that cannot be listed is still 200 (``connection`` says why); an invalid configuration is 422.
        """
        return await previewer.test(caller, data, sample_rows=sample_rows)

    @post("/{ingestion_id:str}/preview", status_code=200, summary="Preview a saved ingestion's next run")
    async def preview(
        self,
        *,
        caller: NamedDependency[Caller],
        previewer: NamedDependency[Previewer],
        ingestion_id: FromPath[str],
        sample_rows: Annotated[int, bounded(1, MAX_SAMPLE_ROWS, "sample rows")] = DEFAULT_SAMPLE_ROWS,
    ) -> PreviewOut:
        """Like ``/ingestions/test``, with the ingestion's file ledger deciding which files are new."""
        return await previewer.preview(caller, ingestion_id, sample_rows=sample_rows)

    @post("/estimate-cost", status_code=200, summary="Cost breakdown of a configuration (or a saved ingestion)")
    async def estimate_cost(
        self,
        *,
        caller: NamedDependency[Caller],
        commands: NamedDependency[IngestionCommands],
        previewer: NamedDependency[Previewer],
        costs: NamedDependency[CostEstimator],
        source_credentials: NamedDependency[SourceCredentials],
        data: JSONBody[EstimateCostIn],
    ) -> CostEstimate:
        """Per run and per month, with the always-on comparison (formulas: docs/cost.md).

        Bytes and files per run come from the body, else the saved ingestion's recent runs, else a listing.
        """
        ingestion_id: str | None = None
        sealed: str | None = None
        if data.ingestion_id is not None:
            state = await commands.state(caller, data.ingestion_id)
            ingestion_id, config = state.id, state.config
        else:
            body = data.to_create()
            if body is None:
                raise ValidationFailed(
                    [FieldError("source", "send a configuration (source, format, destination) or ingestion_id")]
                )
            config, sent = await commands.prepare(caller, body)
            sealed = source_credentials.seal(caller.tenant_id, sent) if sent else None
        size = await _run_size(data, caller, previewer, costs, config=config, ingestion_id=ingestion_id, sealed=sealed)
        return await costs.estimate(caller, config, size, ingestion_id=ingestion_id, runs_per_month=data.runs_per_month)


async def _run_size(
    data: EstimateCostIn,
    caller: Caller,
    previewer: Previewer,
    costs: CostEstimator,
    *,
    config: IngestionConfig,
    ingestion_id: str | None,
    sealed: str | None,
) -> RunSize:
    """The run's bytes and files: given, else the ingestion's typical run, else the next run's listing."""
    if data.bytes_per_run is not None:
        files = data.files_per_run if data.files_per_run is not None else 1
        return RunSize(bytes=data.bytes_per_run, files=files, listed=files)
    if ingestion_id is not None and (typical := await costs.typical_run(caller.tenant_id, ingestion_id)) is not None:
        return typical
    selection = await previewer.select(caller, config, ingestion_id=ingestion_id, sealed=sealed)
    if not (selection.reachable and selection.authorised):
        raise ValidationFailed(
            [
                FieldError(
                    "source", f"the source cannot be listed to size a run: {selection.message}; send bytes_per_run"
                )
            ]
        )
    files = data.files_per_run if data.files_per_run is not None else selection.count
    return RunSize(bytes=selection.bytes, files=files, listed=selection.listed)
