"""What a run is expected to cost when it is planned, and what it cost when it completes.

The formulas are :mod:`autoloader_contracts.cost` (docs/cost.md); this module gathers their
inputs: the ingestion's cluster (kind and pricing, from the cluster aggregate) and the
ingestion's own past runs (the throughput history, from ``discovery.runs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from autoloader_bus.event_store import EventStore
from autoloader_contracts.cluster import ClusterPricing
from autoloader_contracts.cluster_state import fold as fold_cluster
from autoloader_contracts.cost import CostInputs, RunSample, actual_run_cost, estimate_cost
from autoloader_contracts.events import RunCost, RunMetrics
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_discovery.ledger import Ledger


@dataclass(frozen=True)
class ClusterCosts:
    """The cluster facts the cost model needs."""

    kind: str = "embedded"
    pricing: ClusterPricing = field(default_factory=ClusterPricing)


class RunCosting:
    """Estimates runs at planning time and prices them at completion."""

    def __init__(self, *, store: EventStore, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger

    async def estimate(
        self,
        tenant_id: str,
        ingestion_id: str,
        config: IngestionConfig,
        *,
        bytes_planned: int,
        files: int,
        listed: int,
        batches: int,
        at: datetime,
    ) -> float:
        """The planned run's expected cost: compute for its bytes plus its listing and reads."""
        cluster = await self.cluster(tenant_id, config.cluster_id)
        history = [
            RunSample(
                bytes_read=w.bytes_read,
                duration_seconds=w.duration_seconds,
                spark_seconds=w.spark_seconds,
                batches=w.batches,
            )
            for w in await self._ledger.run_history(ingestion_id)
        ]
        estimate = estimate_cost(
            CostInputs(
                schedule=config.schedule,
                source_type=config.source.type,
                format_type=config.format.type,
                cluster_kind=cluster.kind,
                pricing=cluster.pricing,
                bytes_per_run=bytes_planned,
                files_per_run=files,
                keys_listed_per_run=listed,
                batches_per_run=batches,
                history=history,
                runs_per_month=1,
            ),
            at=at,
        )
        return round(estimate.compute_per_run + estimate.discovery_per_run, 6)

    async def priced(
        self, tenant_id: str, config: IngestionConfig, metrics: RunMetrics, *, estimated: float | None
    ) -> RunCost:
        """The completed run's cost from its measured durations and requests, beside its estimate."""
        cluster = await self.cluster(tenant_id, config.cluster_id)
        actual = actual_run_cost(
            source_type=config.source.type,
            cluster_kind=cluster.kind,
            pricing=cluster.pricing,
            duration_seconds=metrics.duration_seconds,
            spark_seconds=metrics.spark_seconds or None,
            bytes_read=metrics.bytes_read,
            files_read=metrics.files_processed + metrics.files_failed,
            keys_listed=metrics.files_listed,
        )
        return RunCost(estimated=estimated, actual=actual, currency=cluster.pricing.currency)

    async def cluster(self, tenant_id: str, cluster_id: str | None) -> ClusterCosts:
        """Kind and pricing of the ingestion's cluster (the embedded defaults when it has none or it is gone)."""
        if cluster_id is None:
            return ClusterCosts()
        state = fold_cluster((s.seq, s.event) for s in await self._store.read(tenant_id, "cluster", cluster_id))
        if state is None:
            return ClusterCosts()
        return ClusterCosts(kind=state.config.kind, pricing=state.config.pricing)
