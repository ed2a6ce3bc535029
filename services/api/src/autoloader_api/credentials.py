"""Source credentials at the API edge: store what a request sends, show only masked field names.

Requests carry credential values; events, configurations and responses carry at most the
credential ref (responses not even that). This module is the only place in the api service that
sees decrypted values (to keep masked fields on update).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from autoloader_api.domain.source_rules import MASK, normalise_credentials
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_core.errors import NotFoundError, TerminalError
from autoloader_db.credentials import CredentialStore


class SourceCredentials:
    """Saves request credentials and looks up which fields are set.

    Args:
        store: The encrypted credential store (None: this API cannot store credentials, and says so).
    """

    def __init__(self, store: CredentialStore | None) -> None:
        self._store = store

    async def save(self, tenant_id: str, credentials: Mapping[str, Any]) -> str:
        """Store validated ``credentials``; return the credential ref.

        Raises:
            TerminalError: No credential store or no encryption key is configured.
        """
        return await self._required().save(tenant_id, normalise_credentials(credentials))

    def seal(self, tenant_id: str, credentials: Mapping[str, Any]) -> str:
        """Seal validated ``credentials`` for another service to use once (a preview); nothing is stored.

        Raises:
            TerminalError: No credential store or no encryption key is configured.
        """
        return self._required().seal_transient(tenant_id, normalise_credentials(credentials))

    async def unmask(
        self, tenant_id: str, sent: Mapping[str, Any], current_ref: str | None
    ) -> dict[str, Any]:
        """Replace values equal to the mask by the stored value of the same field.

        A mask with no stored value stays (validation then asks for the real value).
        """
        if current_ref is None or MASK not in sent.values() or self._store is None:
            return dict(sent)
        try:
            stored = await self._store.load(tenant_id, current_ref)
        except NotFoundError:
            return dict(sent)
        return {name: stored.get(name, value) if value == MASK else value for name, value in sent.items()}

    async def unchanged(self, tenant_id: str, sent: Mapping[str, Any], current_ref: str | None) -> bool:
        """Whether ``sent`` equals what ``current_ref`` holds (so no new record is needed)."""
        if current_ref is None or self._store is None:
            return False
        try:
            stored = await self._store.load(tenant_id, current_ref)
        except NotFoundError:
            return False
        return stored == normalise_credentials(sent)

    async def masked(self, tenant_id: str, refs: Iterable[str | None]) -> dict[str, dict[str, str]]:
        """Return ref -> ``{field: "********"}`` for the refs that exist (one query)."""
        wanted = [ref for ref in refs if ref]
        if not wanted or self._store is None:
            return {}
        names = await self._store.field_names_of(tenant_id, wanted)
        return {ref: dict.fromkeys(fields, MASK) for ref, fields in names.items()}

    def _required(self) -> CredentialStore:
        if self._store is None:
            raise TerminalError("this API instance cannot store credentials (no credential store configured)")
        return self._store


def with_credential_ref(config: IngestionConfig, ref: str | None) -> IngestionConfig:
    """Return ``config`` whose source points at credential ``ref``."""
    source = msgspec.structs.replace(config.source, credential_ref=ref)
    return msgspec.structs.replace(config, source=source)


def credential_ref_of(config: Mapping[str, Any]) -> str | None:
    """The credential ref inside a stored (JSON) configuration."""
    source = config.get("source") or {}
    ref = source.get("credential_ref")
    return ref if isinstance(ref, str) else None
