"""Which catalog a destination names: the tenant's registration, read from its event stream (ADR 0007).

No read model and no cache: the catalog id is ``catalog_id(tenant, name)``, so the loader reads the
aggregate's few events directly and an updated URI or rotated credential applies to the next batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from autoloader_bus.event_store import EventStore
from autoloader_contracts.catalog import CatalogConfig
from autoloader_contracts.catalog_state import catalog_id, fold
from autoloader_core.errors import TransientError
from autoloader_loader.catalogs import CatalogConnection

Credentials = Callable[[str, str | None], Awaitable[dict[str, str] | None]]
LOOKUP_TIMEOUT_SECONDS = 30.0


class CatalogDirectory:
    """Resolves a tenant's catalog by name into a :class:`CatalogConnection` with its decrypted credentials.

    Call it from a worker thread as the engine's :class:`~autoloader_loader.catalogs.CatalogLookup`
    (it runs the lookup on the service's event loop), or await :meth:`connection` on the loop.

    Args:
        store: The event store holding the catalog aggregates.
        credentials: ``(tenant_id, credential_ref) -> fields`` (the credential store's resolve).
        loop: The event loop the store's NATS connection lives on.
    """

    def __init__(self, store: EventStore, credentials: Credentials, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._credentials = credentials
        self._loop = loop

    async def connection(self, tenant_id: str, name: str) -> CatalogConnection | None:
        """The tenant's active registration ``name``, or None (the built-in catalog holds the table).

        Raises:
            TransientError: NATS or the credential store did not answer.
        """
        return await self.connection_by_id(tenant_id, catalog_id(tenant_id, name))

    async def connection_by_id(self, tenant_id: str, aggregate_id: str) -> CatalogConnection | None:
        """Like :meth:`connection`, by the catalog's id."""
        history = await self._store.read(tenant_id, "catalog", aggregate_id)
        state = fold((s.seq, s.event) for s in history)
        if state is None or state.status != "active":
            return None
        ref = state.config.credential_ref
        secret = await self._credentials(tenant_id, ref) if ref else None
        return connection_of(state.config, secret or {})

    def __call__(self, tenant_id: str, catalog: str) -> CatalogConnection | None:
        """The blocking lookup the engine's worker threads use (never call it on the event loop)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("CatalogDirectory() blocks: call it from a worker thread, or await connection()")
        future = asyncio.run_coroutine_threadsafe(self.connection(tenant_id, catalog), self._loop)
        try:
            return future.result(timeout=LOOKUP_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            future.cancel()
            raise TransientError(f"looking up catalog {catalog!r} took over {LOOKUP_TIMEOUT_SECONDS:.0f} s") from exc


def connection_of(config: CatalogConfig, credentials: Mapping[str, str]) -> CatalogConnection:
    """The PyIceberg properties of a registration: its properties plus the credentials in PyIceberg's names."""
    properties = dict(config.properties)
    if "token" in credentials:
        properties["token"] = credentials["token"]
    if "client_id" in credentials:
        properties["credential"] = f"{credentials['client_id']}:{credentials['client_secret']}"
        if "scope" in credentials:
            properties["scope"] = credentials["scope"]
    if "access_key_id" in credentials:
        # The warehouse's FileIO always; Glue's own client too (PyIceberg reads glue.* for it).
        properties["s3.access-key-id"] = credentials["access_key_id"]
        properties["s3.secret-access-key"] = credentials["secret_access_key"]
        if config.type == "glue":
            properties["glue.access-key-id"] = credentials["access_key_id"]
            properties["glue.secret-access-key"] = credentials["secret_access_key"]
    return CatalogConnection(
        name=config.name, type=config.type, uri=config.uri, warehouse=config.warehouse, properties=properties
    )
