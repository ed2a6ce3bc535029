"""Request and response bodies of ``/api/v1/catalogs`` (a tenant's own Iceberg catalogs, ADR 0007)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from autoloader_contracts.catalog import CatalogConfig


class CreateCatalog(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/catalogs`` body; ``credentials`` are write-only (stored encrypted, shown masked).

    ``credentials`` holds ``token`` (a REST bearer token), or ``client_id`` + ``client_secret`` (+
    ``scope``) for OAuth2 client credentials, and/or ``access_key_id`` + ``secret_access_key`` for
    Glue and an S3 warehouse.
    """

    name: str
    type: str
    uri: str | None = None
    warehouse: str | None = None
    properties: dict[str, str] = {}
    credentials: dict[str, str] | None = None

    def to_config(self) -> CatalogConfig:
        """Return the configuration to store (never carries the credentials themselves)."""
        return CatalogConfig(
            name=self.name, type=self.type, uri=self.uri, warehouse=self.warehouse, properties=self.properties
        )


class UpdateCatalog(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/v1/catalogs/{id}`` body: only the fields sent change; ``name`` never does.

    ``credentials``: omitted keeps them; an object replaces them, where a field sent as
    ``"********"`` keeps its stored value; ``null`` removes them.
    """

    name: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    uri: str | UnsetType | None = UNSET
    warehouse: str | UnsetType | None = UNSET
    properties: dict[str, str] | UnsetType = UNSET
    credentials: dict[str, str] | UnsetType | None = UNSET

    def apply_to(self, config: CatalogConfig) -> CatalogConfig:
        """Return ``config`` with the fields of this body replaced (credentials are handled apart)."""
        changes = {
            name: getattr(self, name)
            for name in ("type", "uri", "warehouse", "properties")
            if getattr(self, name) is not UNSET
        }
        return msgspec.structs.replace(config, **changes)


class CatalogOut(msgspec.Struct, frozen=True, kw_only=True):
    """One catalog; each stored credential field is shown as ``"********"``."""

    id: str
    name: str
    type: str
    uri: str | None
    warehouse: str | None
    properties: dict[str, str]
    credentials: dict[str, str] | None
    ingestion_count: int
    """Live ingestions whose destination names this catalog."""
    version: int
    created_at: datetime
    updated_at: datetime


class CatalogPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of catalogs, oldest first."""

    items: list[CatalogOut]
    next_cursor: str | None


class CatalogConnectionResult(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /api/v1/catalogs/{id}/test-connection`` answer (a failure is a report, not an error)."""

    reachable: bool
    message: str
    authenticated: bool | None = None
    namespaces: list[str] | None = None
    warehouse_found: bool | None = None
    round_trip_ms: int | None = None
    error_kind: str | None = None
    """unreachable, unauthorized, warehouse_missing or error; null when every check passed."""
