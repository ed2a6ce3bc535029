"""Encrypted source credentials in PostgreSQL (``secrets.credentials``).

A credential is a small map of named strings (``access_key_id``, ``password``...). It is stored as
one AES-GCM ciphertext whose associated data is ``tenant_id`` + ``id``: a row moved to another
tenant (or given another id) no longer decrypts. Only the row id (the *credential ref*) travels in
events and configurations; the field names are kept in clear so responses can show which fields
are set without decrypting anything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta

import asyncpg
import msgspec

from autoloader_core.clock import utcnow
from autoloader_core.crypto import SecretBox
from autoloader_core.errors import NotFoundError, TerminalError, TransientError
from autoloader_core.ids import new_id
from autoloader_db.database import Connection, Pool, Record

ROTATE_BATCH = 200
TRANSIENT_LIFETIME = timedelta(minutes=10)
"""How long a sealed transient credential (an unsaved configuration's, for a preview) can be opened."""
_decoder = msgspec.json.Decoder(dict[str, str])


class _Transient(msgspec.Struct, frozen=True):
    fields: dict[str, str]
    expires_at: datetime


_transient_decoder = msgspec.json.Decoder(_Transient)


class CredentialStore:
    """Save, load and re-encrypt credentials of every tenant.

    Build it once per process: ``CredentialStore(pool, SecretBox.from_settings(settings))``.

    Args:
        pool: Pool of the migrated database.
        box: The configured keys (the active one encrypts).
    """

    def __init__(self, pool: Pool, box: SecretBox) -> None:
        self._pool = pool
        self._box = box

    async def save(self, tenant_id: str, fields: Mapping[str, str]) -> str:
        """Encrypt and store ``fields``; return the new credential ref (``cred_...``).

        Raises:
            TerminalError: No encryption key is configured.
            TransientError: PostgreSQL is unreachable.
        """
        ref = new_id("cred")
        sealed = self._box.encrypt(msgspec.json.encode(dict(fields)), _aad(tenant_id, ref))
        async with _translated():
            await self._pool.execute(
                "INSERT INTO secrets.credentials (id, tenant_id, key_id, nonce, ciphertext, field_names) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                ref, tenant_id, sealed.key_id, sealed.nonce, sealed.ciphertext, sorted(fields),
            )
        return ref

    async def load(self, tenant_id: str, ref: str) -> dict[str, str]:
        """Return the decrypted fields of ``ref``.

        Raises:
            NotFoundError: No such credential for this tenant.
            TerminalError: Its key is not configured or does not match.
            TransientError: PostgreSQL is unreachable.
        """
        async with _translated():
            row = await self._pool.fetchrow(
                "SELECT key_id, nonce, ciphertext FROM secrets.credentials WHERE id = $1 AND tenant_id = $2",
                ref, tenant_id,
            )
        if row is None:
            raise _not_found(ref)
        return _decoder.decode(self._open(row, tenant_id, ref))

    async def resolve(self, tenant_id: str, ref: str | None) -> dict[str, str] | None:
        """Return the credentials a source config points at; None (ambient identity) without a ref.

        This is the ``(tenant_id, credential_ref) -> credentials`` callable discovery and the
        loader pass to ``open_source``.

        Raises:
            NotFoundError, TerminalError, TransientError: As :meth:`load`.
        """
        return None if ref is None else await self.load(tenant_id, ref)

    async def field_names(self, tenant_id: str, ref: str) -> list[str]:
        """Return the names of the fields stored under ``ref`` (sorted; nothing is decrypted).

        Raises:
            NotFoundError: No such credential for this tenant.
        """
        names = await self.field_names_of(tenant_id, [ref])
        if ref not in names:
            raise _not_found(ref)
        return names[ref]

    async def field_names_of(self, tenant_id: str, refs: Iterable[str]) -> dict[str, list[str]]:
        """Return ref -> field names for those of ``refs`` that exist for this tenant (one query)."""
        wanted = sorted(set(refs))
        if not wanted:
            return {}
        async with _translated():
            rows = await self._pool.fetch(
                "SELECT id, field_names FROM secrets.credentials WHERE tenant_id = $1 AND id = ANY($2::text[])",
                tenant_id, wanted,
            )
        return {row["id"]: list(row["field_names"]) for row in rows}

    def seal_transient(self, tenant_id: str, fields: Mapping[str, str]) -> str:
        """Seal credentials that are not stored (an unsaved configuration's) for another service to open.

        The text can be sent over request/reply: it opens only with the installation's keys, for
        ``tenant_id``, within :data:`TRANSIENT_LIFETIME`. Nothing is written.

        Raises:
            TerminalError: No encryption key is configured.
        """
        plain = msgspec.json.encode(_Transient(dict(fields), utcnow() + TRANSIENT_LIFETIME))
        sealed = self._box.encrypt(plain, _transient_aad(tenant_id))
        parts = [sealed.key_id, _b64(sealed.nonce), _b64(sealed.ciphertext)]
        return ".".join(parts)

    def open_transient(self, tenant_id: str, sealed: str) -> dict[str, str]:
        """Open what :meth:`seal_transient` sealed for ``tenant_id``.

        Raises:
            TerminalError: The text is malformed, sealed for another tenant or key, or expired.
        """
        try:
            key_id, nonce, ciphertext = sealed.split(".")
            aad = _transient_aad(tenant_id)
            nonce_bytes, cipher_bytes = base64.urlsafe_b64decode(nonce), base64.urlsafe_b64decode(ciphertext)
            plain = self._box.decrypt(key_id, nonce_bytes, cipher_bytes, aad)
        except (ValueError, binascii.Error):
            raise TerminalError("the sealed credentials are malformed; send the configuration again") from None
        transient = _transient_decoder.decode(plain)
        if transient.expires_at < utcnow():
            raise TerminalError("the sealed credentials expired; send the configuration again")
        return transient.fields

    async def rotate(self, *, batch_size: int = ROTATE_BATCH) -> int:
        """Re-encrypt every credential not yet under the active key; return how many changed.

        Works in batches, each in its own transaction with the rows locked, so it can be
        interrupted and run again (rows already under the active key are left alone).

        Raises:
            TerminalError: No key is configured, or a row's key is missing (the batch is rolled back;
                the message names the key id).
        """
        active = self._box.active_key_id
        if active is None:
            self._box.encrypt(b"", b"")  # raises the "no key configured" error
        total = 0
        while True:
            async with _translated(), self._pool.acquire() as conn, conn.transaction():
                done = await self._rotate_batch(conn, active or "", batch_size)
            if not done:
                return total
            total += done

    async def _rotate_batch(self, conn: Connection, active: str, batch_size: int) -> int:
        rows = await conn.fetch(
            "SELECT id, tenant_id, key_id, nonce, ciphertext FROM secrets.credentials "
            "WHERE key_id <> $1 ORDER BY id LIMIT $2 FOR UPDATE",
            active, batch_size,
        )
        updates = []
        for row in rows:
            aad = _aad(row["tenant_id"], row["id"])
            sealed = self._box.encrypt(self._open(row, row["tenant_id"], row["id"]), aad)
            updates.append((row["id"], sealed.key_id, sealed.nonce, sealed.ciphertext))
        await conn.executemany(
            "UPDATE secrets.credentials SET key_id = $2, nonce = $3, ciphertext = $4, updated_at = now() "
            "WHERE id = $1",
            updates,
        )
        return len(rows)

    def _open(self, row: Record, tenant_id: str, ref: str) -> bytes:
        try:
            return self._box.decrypt(row["key_id"], row["nonce"], row["ciphertext"], _aad(tenant_id, ref))
        except TerminalError as exc:
            raise TerminalError(f"credential {ref!r}: {exc.message}") from None


def _aad(tenant_id: str, ref: str) -> bytes:
    # The unit separator keeps ("ab", "c") and ("a", "bc") apart.
    return f"{tenant_id}\x1f{ref}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _transient_aad(tenant_id: str) -> bytes:
    return f"{tenant_id}\x1ftransient".encode()


def _not_found(ref: str) -> NotFoundError:
    return NotFoundError(
        f"credential {ref!r} not found; send the source credentials again to store new ones"
    )


@contextlib.asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Turn lost connections into TransientError (retrying later may help)."""
    try:
        yield
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise TransientError(f"PostgreSQL is unreachable while accessing credentials: {exc}") from exc
