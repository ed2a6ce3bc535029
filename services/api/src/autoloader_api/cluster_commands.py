"""Cluster commands: register, change and remove clusters; the tenant's embedded cluster on first use.

The token is write-only: it is stored encrypted in the credential store and the events carry only
``config.token_ref``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET

from autoloader_api.domain.cluster_rules import validate_cluster
from autoloader_api.domain.source_rules import MASK
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import CreateCluster, UpdateCluster
from autoloader_api.tenants import Caller
from autoloader_bus.event_store import EventStore
from autoloader_contracts.cluster import ClusterConfig, ClusterPricing, ClusterState
from autoloader_contracts.cluster_state import embedded_cluster_id, fold
from autoloader_contracts.events import ClusterRegistered, ClusterRemoved, ClusterUpdated, Event
from autoloader_core.clock import Clock
from autoloader_core.errors import ConflictError, FieldError, NotFoundError, TerminalError, ValidationFailed
from autoloader_core.ids import deterministic_id, is_valid_id, new_id
from autoloader_db.credentials import CredentialStore

EMBEDDED_NAME = "embedded"


class ClusterCommands:
    """Use cases that change clusters, and the cluster check of ingestion commands."""

    def __init__(
        self,
        *,
        store: EventStore,
        reads: ReadModels,
        clock: Clock,
        tokens: CredentialStore | None,
        projection_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._reads = reads
        self._clock = clock
        self._tokens = tokens
        self._timeout = projection_timeout
        self._has_embedded: set[str] = set()

    async def ensure_embedded(self, caller: Caller) -> str:
        """Register the tenant's embedded cluster unless it exists; return its id.

        Idempotent and safe under concurrency: the id and event id are deterministic and the
        append expects an empty aggregate, so concurrent first requests store one event.
        """
        tenant_id = caller.tenant_id
        cluster_id = embedded_cluster_id(tenant_id)
        if tenant_id in self._has_embedded:
            return cluster_id
        history = await self._history(tenant_id, cluster_id)
        if not history:
            try:
                event = _embedded_registered(caller, self._clock.now())
                await self._reads.wait_projected(
                    await self._store.append(event, expected_version=0), timeout=self._timeout
                )
            except ConflictError:  # another request registered it between our read and our append
                history = await self._history(tenant_id, cluster_id)
        if history:
            await self._reads.wait_projected(
                history[-1][0], timeout=self._timeout
            )  # so the read models show it to this request
        self._has_embedded.add(tenant_id)
        return cluster_id

    async def cluster_for_ingestion(self, caller: Caller, cluster_id: str | None, *, register: bool = True) -> str:
        """Return the cluster an ingestion loads on: ``cluster_id``, or the embedded one when omitted.

        ``register`` registers the tenant's embedded cluster on first use (a preview, which
        writes nothing, only names it).

        Raises:
            ValidationFailed: ``cluster_id`` names no cluster of the tenant.
        """
        embedded = await self.ensure_embedded(caller) if register else embedded_cluster_id(caller.tenant_id)
        if cluster_id is None or cluster_id == embedded:
            return embedded
        state = fold(await self._history(caller.tenant_id, cluster_id)) if is_valid_id(cluster_id) else None
        if state is None or state.status == "removed":
            raise ValidationFailed(
                [
                    FieldError(
                        "cluster_id",
                        f"cluster {cluster_id!r} does not exist; send the id of one of GET /api/v1/clusters, "
                        "or omit cluster_id to load on the embedded cluster",
                    )
                ]
            )
        return cluster_id

    async def costs_of(self, caller: Caller, cluster_id: str | None) -> tuple[str, ClusterPricing, str]:
        """Kind, pricing and commit strategy of the tenant's cluster (embedded defaults when not registered yet)."""
        if cluster_id is None or not is_valid_id(cluster_id):
            return "embedded", ClusterPricing(), "staged"
        state = fold(await self._history(caller.tenant_id, cluster_id))
        if state is None or state.status == "removed":
            return "embedded", ClusterPricing(), "staged"
        return state.config.kind, state.config.pricing, state.config.commit_strategy

    async def kind_of(self, caller: Caller, cluster_id: str) -> str | None:
        """Return the kind (``embedded`` | ``spark_connect``) of the tenant's cluster, None when it is gone."""
        if cluster_id == embedded_cluster_id(caller.tenant_id):
            return "embedded"  # registered on first use; its kind never changes
        state = fold(await self._history(caller.tenant_id, cluster_id)) if is_valid_id(cluster_id) else None
        return None if state is None or state.status == "removed" else state.config.kind

    async def create(self, caller: Caller, body: CreateCluster) -> ClusterState:
        """Register a Spark Connect cluster.

        Raises:
            ValidationFailed: The configuration is invalid; nothing is stored.
        """
        config = body.to_config()
        errors = validate_cluster(config)
        if config.kind == "embedded":
            errors.append(
                FieldError("kind", "every tenant already has its embedded cluster; register kind 'spark_connect'")
            )
        if errors:
            raise ValidationFailed(errors)
        if body.token:
            config = msgspec.structs.replace(config, token_ref=await self._save_token(caller, body.token))
        await self.ensure_embedded(caller)
        event = ClusterRegistered(**caller.envelope(new_id("clu"), now=self._clock.now()), config=config)
        return await self._append(event, [], expected_version=0)

    async def update(self, caller: Caller, cluster_id: str, body: UpdateCluster) -> ClusterState:
        """Change the fields sent in ``body`` (and rotate or remove the token).

        Raises:
            NotFoundError: No such cluster.
            ValidationFailed: The result is invalid, or the kind would change.
        """
        history = await self._history(caller.tenant_id, cluster_id)
        state = _existing(fold(history), cluster_id)
        proposed = body.apply_to(state.config)
        errors = validate_cluster(proposed)
        if proposed.kind != state.config.kind:
            errors.append(
                FieldError("kind", f"kind cannot change (it is {state.config.kind!r}); register a new cluster")
            )
        if errors:
            raise ValidationFailed(errors)
        proposed = await self._with_token(caller, proposed, body.token)
        changed = [
            name for name in ClusterConfig.__struct_fields__ if getattr(proposed, name) != getattr(state.config, name)
        ]
        if not changed:
            return state
        event = ClusterUpdated(**caller.envelope(cluster_id, now=self._clock.now()), config=proposed, changed=changed)
        return await self._append(event, history, expected_version=state.version)

    async def remove(self, caller: Caller, cluster_id: str) -> None:
        """Remove a cluster no live ingestion uses.

        Raises:
            NotFoundError: No such cluster.
            ConflictError: It is the embedded cluster, or ingestions use it.
        """
        history = await self._history(caller.tenant_id, cluster_id)
        state = _existing(fold(history), cluster_id)
        if state.config.kind == "embedded":
            raise ConflictError("the embedded cluster cannot be deleted; every tenant keeps it")
        usage = await self._reads.cluster_usage(
            caller.tenant_id, default_cluster_id=embedded_cluster_id(caller.tenant_id)
        )
        used = usage.get(cluster_id, 0)
        if used:
            raise ConflictError(
                f"cluster {cluster_id!r} is used by {used} ingestion(s); move them to another cluster "
                "(PUT /ingestions/{id} with cluster_id) or delete them first"
            )
        await self._append(
            ClusterRemoved(**caller.envelope(cluster_id, now=self._clock.now())),
            history,
            expected_version=state.version,
        )

    async def _with_token(self, caller: Caller, config: ClusterConfig, token: Any) -> ClusterConfig:
        if token is UNSET or token == MASK:
            return config
        if not token:
            return msgspec.structs.replace(config, token_ref=None)
        return msgspec.structs.replace(config, token_ref=await self._save_token(caller, token))

    async def _save_token(self, caller: Caller, token: str) -> str:
        if self._tokens is None:
            raise TerminalError("this API instance cannot store cluster tokens (no credential store configured)")
        return await self._tokens.save(caller.tenant_id, {"token": token})

    async def _history(self, tenant_id: str, cluster_id: str) -> list[tuple[int, Event]]:
        if not is_valid_id(cluster_id):
            raise NotFoundError(f"cluster {cluster_id!r} not found")
        stored = await self._store.read(tenant_id, "cluster", cluster_id)
        return [(s.seq, s.event) for s in stored]

    async def _append(self, event: Event, history: list[tuple[int, Event]], *, expected_version: int) -> ClusterState:
        seq = await self._store.append(event, expected_version=expected_version)
        await self._reads.wait_projected(seq, timeout=self._timeout)
        state = fold([*history, (seq, event)])
        assert state is not None  # every command here starts from, or registers, a cluster
        return state


def _embedded_registered(caller: Caller, now: datetime) -> ClusterRegistered:
    """The tenant's embedded cluster registration; its event id is deterministic, so retries dedupe."""
    tenant_id = caller.tenant_id
    return ClusterRegistered(
        event_id=deterministic_id("evt", tenant_id, "embedded-cluster"),
        occurred_at=now,
        tenant_id=tenant_id,
        aggregate_id=embedded_cluster_id(tenant_id),
        actor=caller.actor,
        correlation_id=new_id("cor"),
        config=ClusterConfig(name=EMBEDDED_NAME, kind="embedded"),
    )


def _existing(state: ClusterState | None, cluster_id: str) -> ClusterState:
    if state is None or state.status == "removed":
        raise NotFoundError(f"cluster {cluster_id!r} not found")
    return state
