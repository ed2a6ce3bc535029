"""Catalog commands: register, change and remove a tenant's own Iceberg catalogs (ADR 0007).

The credentials are write-only: they are stored encrypted in the credential store and the events
carry only ``config.credential_ref`` and the names of the stored fields.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from autoloader_api.catalog_schemas import CreateCatalog, UpdateCatalog
from autoloader_api.domain.catalog_rules import credential_errors, validate_catalog
from autoloader_api.domain.source_rules import MASK
from autoloader_api.queries import ReadModels
from autoloader_api.tenants import Caller
from autoloader_bus.event_store import EventStore
from autoloader_contracts.catalog import CatalogConfig, CatalogState
from autoloader_contracts.catalog_state import catalog_id, fold
from autoloader_contracts.events import CatalogRegistered, CatalogRemoved, CatalogUpdated, Event
from autoloader_core.clock import Clock
from autoloader_core.errors import ConflictError, FieldError, NotFoundError, TerminalError, ValidationFailed
from autoloader_core.ids import is_valid_id
from autoloader_db.credentials import CredentialStore


class CatalogCommands:
    """Use cases that change a tenant's catalog registry."""

    def __init__(
        self,
        *,
        store: EventStore,
        reads: ReadModels,
        clock: Clock,
        credentials: CredentialStore | None,
        projection_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._reads = reads
        self._clock = clock
        self._credentials = credentials
        self._timeout = projection_timeout

    async def create(self, caller: Caller, body: CreateCatalog) -> CatalogState:
        """Register a catalog; destinations naming it live in it from the next batch on.

        Raises:
            ValidationFailed: The configuration or credentials are invalid; nothing is stored.
            ConflictError: The tenant has a catalog of that name, or ingestions already write
                tables of that name into the built-in catalog.
        """
        config = body.to_config()
        errors = validate_catalog(config) + credential_errors(config.type, body.credentials or {})
        if errors:
            raise ValidationFailed(errors)
        aggregate_id = catalog_id(caller.tenant_id, config.name)
        history = await self._history(caller.tenant_id, aggregate_id)
        state = fold(history)
        if state is not None and state.status == "active":
            raise ConflictError(
                f"catalog {config.name!r} is registered already (id {aggregate_id}); change it with PUT"
            )
        await self._refuse_if_in_use(caller, config.name, "register it")
        if body.credentials:
            config = await self._with_credentials(caller, config, dict(body.credentials))
        event = CatalogRegistered(**caller.envelope(aggregate_id, now=self._clock.now()), config=config)
        return await self._append(event, history, expected_version=state.version if state else 0)

    async def update(self, caller: Caller, aggregate_id: str, body: UpdateCatalog) -> CatalogState:
        """Change the fields sent in ``body`` (and rotate or remove the credentials).

        Raises:
            NotFoundError: No such catalog.
            ValidationFailed: The result is invalid, or the name would change.
        """
        history = await self._history(caller.tenant_id, aggregate_id)
        state = _existing(fold(history), aggregate_id)
        proposed = body.apply_to(state.config)
        errors = validate_catalog(proposed)
        if body.name is not UNSET and body.name != state.config.name:
            errors.append(
                FieldError("name", f"name cannot change (it is {state.config.name!r}); register a new catalog")
            )
        if errors:
            raise ValidationFailed(errors)
        proposed = await self._updated_credentials(caller, state.config, proposed, body.credentials)
        changed = [
            name for name in CatalogConfig.__struct_fields__ if getattr(proposed, name) != getattr(state.config, name)
        ]
        if not changed:
            return state
        event = CatalogUpdated(**caller.envelope(aggregate_id, now=self._clock.now()), config=proposed, changed=changed)
        return await self._append(event, history, expected_version=state.version)

    async def remove(self, caller: Caller, aggregate_id: str) -> None:
        """Remove a registration no live ingestion writes through (the catalog's tables are untouched).

        Raises:
            NotFoundError: No such catalog.
            ConflictError: Ingestions write into it.
        """
        history = await self._history(caller.tenant_id, aggregate_id)
        state = _existing(fold(history), aggregate_id)
        await self._refuse_if_in_use(caller, state.config.name, "remove it")
        await self._append(
            CatalogRemoved(**caller.envelope(aggregate_id, now=self._clock.now())),
            history,
            expected_version=state.version,
        )

    async def _refuse_if_in_use(self, caller: Caller, name: str, action: str) -> None:
        # Registering a name that existing ingestions use would move their tables to another catalog
        # mid-life (new tables there, history left behind); removing one would do the reverse.
        used = (await self._reads.catalog_usage(caller.tenant_id)).get(name, 0)
        if used:
            raise ConflictError(
                f"{used} ingestion(s) write into catalog {name!r}; delete them (or point them at another catalog) "
                f"before you {action}"
            )

    async def _updated_credentials(
        self, caller: Caller, stored: CatalogConfig, proposed: CatalogConfig, sent: Any
    ) -> CatalogConfig:
        if sent is UNSET:
            return proposed
        if not sent:
            return msgspec.structs.replace(proposed, credential_ref=None, credential_fields=[])
        fields = dict(sent)
        if MASK in fields.values():
            kept = await self._stored(caller, stored)
            missing = [name for name, value in fields.items() if value == MASK and name not in kept]
            if missing:
                raise ValidationFailed(
                    [FieldError(f"credentials.{missing[0]}", f"no {missing[0]} is stored; send its value")]
                )
            fields = {name: kept[name] if value == MASK else value for name, value in fields.items()}
            if fields == kept:
                return proposed
        errors = credential_errors(proposed.type, fields)
        if errors:
            raise ValidationFailed(errors)
        return await self._with_credentials(caller, proposed, fields)

    async def _stored(self, caller: Caller, config: CatalogConfig) -> dict[str, str]:
        if config.credential_ref is None or self._credentials is None:
            return {}
        return await self._credentials.load(caller.tenant_id, config.credential_ref)

    async def _with_credentials(self, caller: Caller, config: CatalogConfig, fields: dict[str, str]) -> CatalogConfig:
        if self._credentials is None:
            raise TerminalError("this API instance cannot store catalog credentials (no credential store configured)")
        ref = await self._credentials.save(caller.tenant_id, fields)
        return msgspec.structs.replace(config, credential_ref=ref, credential_fields=sorted(fields))

    async def _history(self, tenant_id: str, aggregate_id: str) -> list[tuple[int, Event]]:
        if not is_valid_id(aggregate_id):
            raise NotFoundError(f"catalog {aggregate_id!r} not found")
        stored = await self._store.read(tenant_id, "catalog", aggregate_id)
        return [(s.seq, s.event) for s in stored]

    async def _append(self, event: Event, history: list[tuple[int, Event]], *, expected_version: int) -> CatalogState:
        seq = await self._store.append(event, expected_version=expected_version)
        await self._reads.wait_projected(seq, timeout=self._timeout)
        state = fold([*history, (seq, event)])
        assert state is not None  # every command here starts from, or registers, a catalog
        return state


def _existing(state: CatalogState | None, aggregate_id: str) -> CatalogState:
    if state is None or state.status == "removed":
        raise NotFoundError(f"catalog {aggregate_id!r} not found")
    return state
