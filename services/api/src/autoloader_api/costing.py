"""Cost estimates at the API: gathers the inputs of :mod:`autoloader_contracts.cost` (docs/cost.md).

Inputs: the ingestion's schedule and formats, its cluster's kind and pricing, the bytes and files
of a run (from a listing, the caller, or the ingestion's recent runs), and the ingestion's past
runs (which refine the engine's throughput). No I/O of its own beyond the read models and the
cluster aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.memos import MEMO_SIZE, Bounded, ingestion_config
from autoloader_api.queries import ReadModels, samples_from
from autoloader_api.tenants import Caller
from autoloader_contracts.cluster import ClusterPricing
from autoloader_contracts.cost import CostEstimate, CostInputs, RunSample, estimate_cost
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_core.clock import Clock

HISTORY_RUNS = 20
"""Past runs that refine the throughput and give a saved ingestion's typical run."""


@dataclass(frozen=True)
class RunSize:
    """What one run handles: the inputs that come from a listing or from history."""

    bytes: int
    files: int
    listed: int


class CostEstimator:
    """Estimates per run and per month for a configuration (saved or not)."""

    def __init__(
        self, *, clusters: ClusterCommands, reads: ReadModels, clock: Clock, batch_max_files: int, batch_max_bytes: int
    ) -> None:
        self._clusters = clusters
        self._reads = reads
        self._clock = clock
        self._batch_max_files = batch_max_files
        self._batch_max_bytes = batch_max_bytes
        self._monthly_totals: Bounded[tuple[Any, ...], float] = Bounded(MEMO_SIZE)
        """Monthly totals of a page's rows by everything they depend on (a page asks them on every request)."""

    async def estimate(
        self,
        caller: Caller,
        config: IngestionConfig,
        size: RunSize,
        *,
        ingestion_id: str | None = None,
        runs_per_month: int | None = None,
    ) -> CostEstimate:
        """The estimate for runs of ``size`` bytes/files (history refines the throughput of a saved one)."""
        kind, pricing, strategy = await self._clusters.costs_of(caller, config.cluster_id)
        history = await self._history(caller.tenant_id, ingestion_id)
        return self._estimate(config, size, (kind, pricing, strategy), history, runs_per_month=runs_per_month)

    def _estimate(
        self,
        config: IngestionConfig,
        size: RunSize,
        cluster: tuple[str, ClusterPricing, str],
        history: list[RunSample],
        *,
        runs_per_month: int | None,
        at: datetime | None = None,
    ) -> CostEstimate:
        kind, pricing, strategy = cluster
        return estimate_cost(
            CostInputs(
                schedule=config.schedule,
                source_type=config.source.type,
                format_type=config.format.type,
                cluster_kind=kind,
                pricing=pricing,
                bytes_per_run=size.bytes,
                files_per_run=size.files,
                keys_listed_per_run=size.listed,
                batches_per_run=self.batches(size),
                history=history,
                runs_per_month=runs_per_month,
                commit_strategy=strategy,
            ),
            at=at or self._clock.now(),
        )

    async def typical_run(self, tenant_id: str, ingestion_id: str) -> RunSize | None:
        """The average run of a saved ingestion over its recent completed runs (None before its first)."""
        averages = await self._reads.recent_run_averages(tenant_id, [ingestion_id], limit=HISTORY_RUNS)
        return _size(averages.get(ingestion_id))

    async def monthly(self, caller: Caller, rows: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
        """Ingestion id -> ``total_monthly`` from its recent runs (None before its first run).

        One query for the sizes and the histories, whatever the number of rows; each cluster's pricing
        is read once.
        """
        rows = list(rows)
        past = await self._reads.cost_histories(caller.tenant_id, [r["id"] for r in rows], limit=HISTORY_RUNS)
        averages = {ingestion_id: average for ingestion_id, (average, _) in past.items()}
        histories = {ingestion_id: numbers for ingestion_id, (_, numbers) in past.items()}
        sizes = {r["id"]: size for r in rows if (size := _size(averages.get(r["id"]))) is not None}
        clusters: dict[str | None, tuple[str, ClusterPricing, str]] = {}
        found: dict[str, float | None] = {}
        now = self._clock.now()
        for row in rows:
            size = sizes.get(row["id"])
            if size is None:
                found[row["id"]] = None
                continue
            config = _config(row)
            if config.cluster_id not in clusters:
                clusters[config.cluster_id] = await self._clusters.costs_of(caller, config.cluster_id)
            cluster = clusters[config.cluster_id]
            history = histories.get(row["id"], ())
            # The estimate depends on "now" only through the month (in the schedule's zone): every zone's
            # month starts on a quarter hour of UTC, so the quarter hour stands for it.
            key = (config.schedule, config.source.type, config.format.type, cluster, size, history,
                   _quarter_hour(now))
            total = self._monthly_totals.get(key)
            if total is None:
                samples = samples_from(history)
                total = self._estimate(config, size, cluster, samples, runs_per_month=None, at=now).total_monthly
                self._monthly_totals.put(key, total)
            found[row["id"]] = total
        return found

    def batches(self, size: RunSize) -> int:
        """How many batches discovery would split a run of ``size`` into."""
        if size.files == 0:
            return 0
        by_files = math.ceil(size.files / max(1, self._batch_max_files))
        by_bytes = math.ceil(size.bytes / max(1, self._batch_max_bytes))
        return max(1, by_files, by_bytes)

    async def _history(self, tenant_id: str, ingestion_id: str | None) -> list[RunSample]:
        if ingestion_id is None:
            return []
        return await self._reads.run_samples(tenant_id, ingestion_id, limit=HISTORY_RUNS)


def _size(average: Mapping[str, Any] | None) -> RunSize | None:
    if average is None:
        return None
    return RunSize(
        bytes=round(average["bytes"] or 0), files=round(average["files"] or 0), listed=round(average["listed"] or 0)
    )


def _quarter_hour(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def _config(row: Mapping[str, Any]) -> IngestionConfig:
    return ingestion_config(row)
