"""Ingestion commands: load the aggregate, check the command, append with OCC, wait for the projection.

Waiting until the projector has applied the appended event lets a response (and the client's next
read) reflect the write, although reads are served from the eventually consistent read models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.credentials import SourceCredentials, with_credential_ref
from autoloader_api.domain.lifecycle import (
    Transition,
    changed_sections,
    check_transition,
    check_update,
    ensure_exists,
)
from autoloader_api.domain.validation import engine_cluster_errors, validate_config
from autoloader_api.local_folders import LocalFolders
from autoloader_api.queries import ReadModels
from autoloader_api.schemas import CreateIngestion, SourceIn, UpdateIngestion
from autoloader_api.tenants import Caller
from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import (
    Event,
    IngestionActivated,
    IngestionCreated,
    IngestionDeleted,
    IngestionPaused,
    IngestionResumed,
    IngestionUpdated,
    RunRequested,
    SchemaChangeDetected,
    SchemaChangeResolved,
)
from autoloader_contracts.ingestion import IngestionConfig, IngestionState, SourceSpec
from autoloader_contracts.ingestion_state import fold
from autoloader_core.clock import Clock
from autoloader_core.errors import ConflictError, NotFoundError, ValidationFailed
from autoloader_core.ids import is_valid_id, new_id
from autoloader_sources.local import confine_path

_TRANSITION_EVENTS: dict[Transition, type[Event]] = {
    "activate": IngestionActivated,
    "pause": IngestionPaused,
    "resume": IngestionResumed,
}


@dataclass(frozen=True)
class Outcome:
    """The aggregate after a command and whether the read models already show it."""

    state: IngestionState
    projected: bool


class IngestionCommands:
    """Use cases that change ingestions (and request runs)."""

    def __init__(
        self,
        *,
        store: EventStore,
        reads: ReadModels,
        clock: Clock,
        allowed_roots: Sequence[Path],
        projection_timeout: float = 5.0,
        credentials: SourceCredentials | None = None,
        clusters: ClusterCommands | None = None,
        folders: LocalFolders | None = None,
    ) -> None:
        self._store = store
        self._folders = folders
        self._clusters = clusters
        self._reads = reads
        self._clock = clock
        self._roots = tuple(allowed_roots)
        self._timeout = projection_timeout
        self._credentials = credentials or SourceCredentials(None)

    async def create(self, caller: Caller, body: CreateIngestion) -> Outcome:
        """Create an ingestion (draft, or active with ``activate: true``).

        Raises:
            ValidationFailed: The configuration is invalid; nothing is stored.
        """
        config, sent = await self.prepare(caller, body, register_cluster=True)
        if sent:
            config = with_credential_ref(config, await self._credentials.save(caller.tenant_id, sent))
        ingestion_id = new_id("ing")
        event = IngestionCreated(
            **caller.envelope(ingestion_id, now=self._clock.now()),
            config=config,
            status="active" if body.activate else "draft",
        )
        return await self._append(event, [], expected_version=0)

    async def prepare(
        self, caller: Caller, body: CreateIngestion, *, register_cluster: bool = False
    ) -> tuple[IngestionConfig, dict[str, Any] | None]:
        """Validate a create body and put it on its cluster; return the configuration and the credentials sent.

        Nothing is stored unless ``register_cluster`` lets the tenant's embedded cluster be
        registered on first use (a create does; a preview never writes).

        Raises:
            ValidationFailed: The configuration is invalid.
        """
        config = body.to_config()
        sent = body.source.credentials
        self._validate(config, credentials_given=sent is not None, credentials=sent)
        await self._local_folder(caller, config.source, claim=register_cluster)
        config = await self._with_cluster(caller, config, register=register_cluster)
        await self._check_engine(caller, config)
        return config, sent

    async def state(self, caller: Caller, ingestion_id: str) -> IngestionState:
        """The ingestion's current state, folded from its events.

        Raises:
            NotFoundError: No such ingestion (or deleted).
        """
        return ensure_exists(fold(await self._history(caller, ingestion_id)), ingestion_id)

    async def update(self, caller: Caller, ingestion_id: str, body: UpdateIngestion) -> Outcome:
        """Replace the sections sent in ``body``.

        Raises:
            NotFoundError: No such ingestion.
            ConflictError: source/format/destination changed after the draft status.
            ValidationFailed: The resulting configuration is invalid.
        """
        history = await self._history(caller, ingestion_id)
        state = ensure_exists(fold(history), ingestion_id)
        proposed, sent = await self._proposed(caller, state.config, body)
        # Credentials alone may change in any status; the rest of the source only in a draft.
        check_update(state, changed_sections(_without_ref(state.config), _without_ref(proposed)))
        self._validate(proposed, credentials_given=body.credentials_given, credentials=sent)
        await self._local_folder(caller, proposed.source, claim=True)
        if proposed.cluster_id != state.config.cluster_id:
            proposed = await self._with_cluster(caller, proposed)
        await self._check_engine(caller, proposed)
        if sent:
            proposed = with_credential_ref(proposed, await self._credentials.save(caller.tenant_id, sent))
        changed = changed_sections(state.config, proposed)
        if not changed:
            return Outcome(
                state=state, projected=await self._reads.wait_projected(state.version, timeout=self._timeout)
            )
        event = IngestionUpdated(
            **caller.envelope(ingestion_id, now=self._clock.now()), config=proposed, changed=changed
        )
        return await self._append(event, history, expected_version=state.version)

    async def transition(self, caller: Caller, ingestion_id: str, command: Transition) -> Outcome:
        """Activate, pause or resume.

        Raises:
            NotFoundError: No such ingestion.
            ConflictError: The current status does not allow ``command``.
        """
        history = await self._history(caller, ingestion_id)
        state = ensure_exists(fold(history), ingestion_id)
        check_transition(command, state)
        event = _TRANSITION_EVENTS[command](**caller.envelope(ingestion_id, now=self._clock.now()))
        return await self._append(event, history, expected_version=state.version)

    async def delete(self, caller: Caller, ingestion_id: str, *, delete_table: bool) -> None:
        """Delete an ingestion (its runs and ledger stay in the log for audit).

        Raises:
            NotFoundError: No such ingestion (or already deleted).
        """
        history = await self._history(caller, ingestion_id)
        state = ensure_exists(fold(history), ingestion_id)
        event = IngestionDeleted(**caller.envelope(ingestion_id, now=self._clock.now()), delete_table=delete_table)
        await self._append(event, history, expected_version=state.version)

    async def request_run(self, caller: Caller, ingestion_id: str) -> str:
        """Ask for a manual run now; return the new run's id.

        Raises:
            NotFoundError: No such ingestion (or deleted).
        """
        state = ensure_exists(fold(await self._history(caller, ingestion_id)), ingestion_id)
        run_id = new_id("run")
        event = RunRequested(
            **caller.envelope(run_id, now=self._clock.now(), correlation_id=run_id),
            ingestion_id=state.id,
            trigger="manual",
        )
        seq = await self._store.append(event, expected_version=0)
        await self._reads.wait_projected(seq, timeout=self._timeout)
        return run_id

    async def retry_run(self, caller: Caller, ingestion_id: str, run_id: str) -> str:
        """Ask for a run that loads only the files that failed in run ``run_id``; return the new run's id.

        Raises:
            NotFoundError: No such ingestion or run.
            ConflictError: The run has not finished, or none of its files failed.
        """
        state = ensure_exists(fold(await self._history(caller, ingestion_id)), ingestion_id)
        run = await self._reads.run(caller.tenant_id, ingestion_id, run_id)
        if run["status"] in {"queued", "running"}:
            raise ConflictError(f"run {run_id!r} is still {run['status']}; retry it once it has finished")
        files = await self._reads.run_files(caller.tenant_id, run_id)
        if not any(f["state"] == "failed" for f in files):
            raise ConflictError(f"run {run_id!r} has no failed files to retry")
        retry_id = new_id("run")
        event = RunRequested(
            **caller.envelope(retry_id, now=self._clock.now(), correlation_id=retry_id),
            ingestion_id=state.id,
            trigger="retry",
            retry_of=run_id,
        )
        seq = await self._store.append(event, expected_version=0)
        await self._reads.wait_projected(seq, timeout=self._timeout)
        return retry_id

    async def resolve_schema_version(
        self, caller: Caller, ingestion_id: str, version: int, action: Literal["auto_merge", "ignore"]
    ) -> Outcome:
        """Resolve the pending schema version ``version``: the ingestion becomes active again.

        Raises:
            NotFoundError: No such ingestion or schema version.
            ConflictError: The version is not the pending one (already resolved, or handled by its mode).
        """
        history = await self._history(caller, ingestion_id)
        state = ensure_exists(fold(history), ingestion_id)
        detected = next((e for _, e in history if isinstance(e, SchemaChangeDetected) and e.version == version), None)
        if detected is None:
            raise NotFoundError(f"schema version {version} of ingestion {ingestion_id!r} not found")
        if state.pending_schema_version != version:
            raise ConflictError(
                f"schema version {version} is not pending (its resolution is {detected.resolution!r}); "
                "only a pending version can be resolved"
            )
        event = SchemaChangeResolved(
            **caller.envelope(ingestion_id, now=self._clock.now()),
            version=version,
            action=action,
            by=caller.actor,
            diff=detected.diff,
            files=detected.files,
        )
        return await self._append(event, history, expected_version=state.version)

    async def _proposed(
        self, caller: Caller, current: IngestionConfig, body: UpdateIngestion
    ) -> tuple[IngestionConfig, dict[str, Any] | None]:
        """The updated configuration and the credentials to store (None: keep or drop the ref).

        Omitted credentials keep the stored ones while the source type stays; ``{}`` drops them;
        masked values take the stored field's value; credentials equal to the stored ones keep
        the ref (a GET body sent back unchanged changes nothing).
        """
        proposed = body.apply_to(current)
        if not isinstance(body.source, SourceIn):
            return proposed, None
        same_type = body.source.type == current.source.type
        kept = current.source.credential_ref if same_type else None
        sent = body.source.credentials
        if sent is None:
            return with_credential_ref(proposed, kept), None
        if not sent:
            return with_credential_ref(proposed, None), None
        unmasked = await self._credentials.unmask(caller.tenant_id, sent, kept)
        if await self._credentials.unchanged(caller.tenant_id, unmasked, kept):
            return with_credential_ref(proposed, kept), None
        return with_credential_ref(proposed, kept), unmasked

    async def _with_cluster(self, caller: Caller, config: IngestionConfig, *, register: bool = True) -> IngestionConfig:
        """``config`` on its named cluster, or on the tenant's embedded one when none is named.

        Raises:
            ValidationFailed: ``cluster_id`` names no cluster of the tenant.
        """
        if self._clusters is None:
            return config
        cluster_id = await self._clusters.cluster_for_ingestion(caller, config.cluster_id, register=register)
        return msgspec.structs.replace(config, cluster_id=cluster_id)

    async def _check_engine(self, caller: Caller, config: IngestionConfig) -> None:
        """Refuse ``engine.read_files = cluster`` on the embedded cluster, which has no Spark to hand files to.

        Raises:
            ValidationFailed: ``read_files`` is ``cluster`` and the ingestion loads on the embedded cluster.
        """
        if config.engine.read_files != "cluster":
            return
        kind: str | None = "embedded"
        if self._clusters is not None and config.cluster_id is not None:
            kind = await self._clusters.kind_of(caller, config.cluster_id)
        if kind is None:
            return  # the cluster is gone: not this check's to report (_with_cluster names a missing one)
        errors = engine_cluster_errors(config.engine.read_files, kind)
        if errors:
            raise ValidationFailed(errors)

    async def _local_folder(self, caller: Caller, source: SourceSpec, *, claim: bool) -> None:
        """Refuse another tenant's local folder; a create or update claims the folder for this tenant.

        Raises:
            ValidationFailed: On ``source.path``.
        """
        if self._folders is None or source.type != "local":
            return
        folder = confine_path(source.path, self._roots)  # validated already: inside the roots
        if claim:
            await self._folders.claim(caller.tenant_id, folder)
        else:
            await self._folders.check(caller.tenant_id, folder)

    def _validate(
        self, config: IngestionConfig, *, credentials_given: bool, credentials: dict[str, Any] | None = None
    ) -> None:
        errors = validate_config(
            config, allowed_roots=self._roots, credentials_given=credentials_given, credentials=credentials
        )
        if errors:
            raise ValidationFailed(errors)

    async def _history(self, caller: Caller, ingestion_id: str) -> list[tuple[int, Event]]:
        if not is_valid_id(ingestion_id):
            # Ids become NATS subject tokens: anything else ("a.b", "*", ">") cannot exist.
            raise NotFoundError(f"ingestion {ingestion_id!r} not found")
        stored = await self._store.read(caller.tenant_id, "ingestion", ingestion_id)
        return [(s.seq, s.event) for s in stored]

    async def _append(self, event: Event, history: list[tuple[int, Event]], *, expected_version: int) -> Outcome:
        seq = await self._store.append(event, expected_version=expected_version)
        state = fold([*history, (seq, event)])
        assert state is not None  # every command here starts from, or creates, an ingestion
        return Outcome(state=state, projected=await self._reads.wait_projected(seq, timeout=self._timeout))


def _without_ref(config: IngestionConfig) -> IngestionConfig:
    return with_credential_ref(config, None)
