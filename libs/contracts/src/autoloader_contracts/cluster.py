"""Cluster configuration value types and the cluster aggregate's state.

A cluster is where an ingestion's batches are loaded: the ``embedded`` engine every tenant has,
or a Spark Connect cluster (``sc://host:port``). Its token is never part of these Structs: the
configuration carries only ``token_ref``, the id of the encrypted credential record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

ClusterKind = Literal["embedded", "spark_connect"]
ClusterStatus = Literal["active", "removed"]
CLUSTER_KINDS = ("embedded", "spark_connect")
COMMIT_STRATEGIES = ("staged", "native")


class ClusterPricing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an hour of the cluster costs, for the cost model.

    Attributes:
        nodes: Nodes a run uses.
        units_per_node_hour: Cost units (DBU, ...) one node consumes per hour.
        price_per_unit: Price of one unit in ``currency``.
        currency: ISO 4217 code.
    """

    nodes: int = 1
    units_per_node_hour: float = 0.0
    price_per_unit: float = 0.0
    currency: str = "USD"


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a user configures for one cluster.

    Attributes:
        name: Display name.
        kind: ``embedded`` (the loader's own engine) or ``spark_connect``.
        url: ``sc://host:port`` of a Spark Connect server (None for ``embedded``).
        catalog: Iceberg catalog name tables are written to.
        commit_strategy: ``staged`` (Spark writes files, the loader commits) or ``native`` (Spark commits).
        pricing: Cost of an hour of the cluster.
        options: Engine options (session settings, ...).
        token_ref: Id of the encrypted token record, never the token itself.
    """

    name: str
    kind: str
    url: str | None = None
    catalog: str = "lake"
    commit_strategy: str = "staged"
    pricing: ClusterPricing = msgspec.field(default_factory=ClusterPricing)
    options: dict[str, Any] = {}
    token_ref: str | None = None


class ClusterState(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster aggregate folded from its events.

    Attributes:
        version: Stream sequence of the aggregate's last event (the OCC token).
    """

    id: str
    tenant_id: str
    status: ClusterStatus
    config: ClusterConfig
    created_at: datetime
    updated_at: datetime
    version: int = 0
