"""Tenants and their API keys (the api service owns the ``api`` schema)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoloader_core.errors import ConflictError, FieldError, ValidationFailed
from autoloader_core.ids import new_id
from autoloader_db.database import Pool, UniqueViolation

KEY_PREFIX = "al_"
TENANT_NAME_MAX = 64


def new_api_key() -> str:
    """Return a fresh random API key (shown to the user once)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Return the stored form of ``key`` (sha256 hex); keys themselves are never stored."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant behind a request."""

    tenant_id: str
    key_id: str

    @property
    def actor(self) -> str:
        """How events name this caller (the key id, never the key)."""
        return f"key:{self.key_id}"

    def envelope(self, aggregate_id: str, *, now: datetime, correlation_id: str | None = None) -> dict[str, Any]:
        """The envelope fields of an event this caller causes on ``aggregate_id``."""
        return {
            "event_id": new_id("evt"),
            "occurred_at": now,
            "tenant_id": self.tenant_id,
            "aggregate_id": aggregate_id,
            "actor": self.actor,
            "correlation_id": correlation_id or new_id("cor"),
        }


class TenantStore:
    """Create tenants and resolve API keys to callers."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, name: str) -> tuple[str, str]:
        """Create tenant ``name`` with a first API key; return ``(tenant_id, api_key)``.

        Raises:
            ValidationFailed: The name is blank or too long.
            ConflictError: A tenant with this name exists.
        """
        _check_tenant_name(name)
        tenant_id, key = new_id("tnt"), new_api_key()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO api.tenants (id, name) VALUES ($1, $2)", tenant_id, name)
                await conn.execute(
                    "INSERT INTO api.api_keys (id, tenant_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
                    new_id("key"),
                    tenant_id,
                    hash_key(key),
                    key[:8],
                )
        except UniqueViolation:
            raise ConflictError(f"a tenant named {name!r} already exists; choose another name") from None
        return tenant_id, key

    async def authenticate(self, key: str) -> Caller | None:
        """Return the caller owning ``key``, or ``None`` for an unknown or revoked key."""
        row = await self._pool.fetchrow(
            "SELECT id, tenant_id FROM api.api_keys WHERE key_hash = $1 AND revoked_at IS NULL", hash_key(key)
        )
        return None if row is None else Caller(tenant_id=row["tenant_id"], key_id=row["id"])


def _check_tenant_name(name: str) -> None:
    if not name.strip() or len(name) > TENANT_NAME_MAX:
        raise ValidationFailed([FieldError("name", f"tenant name must be 1 to {TENANT_NAME_MAX} characters")])
