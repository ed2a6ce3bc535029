"""Catalog configuration value types and the catalog aggregate's state (ADR 0007).

A catalog is a tenant's own Iceberg catalog (REST, Glue, Hive or SQL). A destination
``<catalog>.<database>.<table>`` whose catalog part names a registered catalog lives in it; any
other destination lives in the built-in catalog. Its credentials are never part of these Structs:
the configuration carries only ``credential_ref`` (the encrypted credential record) and the names
of the fields stored there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

CATALOG_TYPES = ("rest", "glue", "hive", "sql")
"""The catalog types a tenant can register (the built-in default is not registered)."""
CATALOG_CREDENTIAL_FIELDS = ("token", "client_id", "client_secret", "scope", "access_key_id", "secret_access_key")
"""What a catalog's write-only ``credentials`` object may hold."""
CatalogStatus = Literal["active", "removed"]


class CatalogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a user configures for one catalog.

    Attributes:
        name: The catalog's name in destinations (``<name>.<database>.<table>``); it never changes.
        type: ``rest``, ``glue``, ``hive`` or ``sql``.
        uri: The endpoint: an ``http(s)://`` REST URL, a ``thrift://`` metastore, a SQLAlchemy URL.
        warehouse: Where new tables go, for catalogs that take it from the client (e.g. ``s3://lake/``).
        properties: Other catalog properties (``s3.endpoint``, ``s3.region``, ``header.*``...), no secrets.
        credential_ref: Id of the encrypted credential record, never the credentials themselves.
        credential_fields: Names of the fields stored there (``token``, ``client_id``...), for masking.
    """

    name: str
    type: str
    uri: str | None = None
    warehouse: str | None = None
    properties: dict[str, str] = {}
    credential_ref: str | None = None
    credential_fields: list[str] = []


class CatalogState(msgspec.Struct, frozen=True, kw_only=True):
    """The catalog aggregate folded from its events.

    Attributes:
        version: Stream sequence of the aggregate's last event (the OCC token).
    """

    id: str
    tenant_id: str
    status: CatalogStatus
    config: CatalogConfig
    created_at: datetime
    updated_at: datetime
    version: int = 0
