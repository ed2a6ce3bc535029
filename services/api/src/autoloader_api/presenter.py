"""Ingestion responses with everything derived: masked credentials, monthly cost estimate, active alerts.

One place gathers these for a page of ingestions with one query each, so a list of 200
ingestions costs the same few queries as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from autoloader_api.commands import Outcome
from autoloader_api.costing import CostEstimator
from autoloader_api.credentials import SourceCredentials, credential_ref_of
from autoloader_api.monitoring import Monitoring
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import AlertBrief, IngestionOut
from autoloader_api.tenants import Caller
from autoloader_api.views import current_run_from_row, ingestion_from_row, ingestion_from_state
from autoloader_core.clock import Clock


class IngestionPresenter:
    """Turns ``read.ingestions`` rows into responses."""

    def __init__(
        self,
        *,
        reads: ReadModels,
        credentials: SourceCredentials,
        costs: CostEstimator,
        monitoring: Monitoring,
        clock: Clock,
    ) -> None:
        self._reads = reads
        self._credentials = credentials
        self._costs = costs
        self._monitoring = monitoring
        self._clock = clock

    async def many(self, caller: Caller, rows: Sequence[Mapping[str, Any]]) -> list[IngestionOut]:
        """The responses of ``rows`` (one query per derived fact, whatever the number of rows)."""
        masked = await self._credentials.masked(caller.tenant_id, [credential_ref_of(r["config"]) for r in rows])
        ids = [r["id"] for r in rows]
        # Independent reads, each on its own pooled connection: the page waits for the slowest, not the sum.
        costs, alerts, in_progress = await asyncio.gather(
            self._costs.monthly(caller, rows),
            self._monitoring.active_alerts(caller.tenant_id, ids),
            self._reads.active_runs(caller.tenant_id, ids),
        )
        now = self._clock.now()
        return [
            ingestion_from_row(
                row,
                now=now,
                credentials=masked.get(credential_ref_of(row["config"]) or ""),
                estimated_monthly_cost=costs.get(row["id"]),
                alerts=[
                    AlertBrief(id=a.id, kind=a.kind, message=a.message, raised_at=a.raised_at)
                    for a in alerts.get(row["id"], [])
                ],
                current_run=current_run_from_row(in_progress.get(row["id"])),
            )
            for row in rows
        ]

    async def one(self, caller: Caller, row: Mapping[str, Any]) -> IngestionOut:
        """The response of one row."""
        return (await self.many(caller, [row]))[0]

    async def outcome(self, caller: Caller, outcome: Outcome) -> IngestionOut:
        """A command's answer: the read model when it caught up (it has the run metadata), else the aggregate."""
        if outcome.projected:
            row = await self._reads.find_ingestion(caller.tenant_id, outcome.state.id)
            if row is not None:
                return await self.one(caller, row)
        ref = outcome.state.config.source.credential_ref
        masked = (await self._credentials.masked(caller.tenant_id, [ref])).get(ref or "", {})
        return ingestion_from_state(outcome.state, now=self._clock.now(), created_by=None, credentials=masked)

