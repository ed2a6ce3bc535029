"""Listing a source and selecting what a run takes (the I/O side of the discovery rules)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from autoloader_contracts.events import FileRef
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_discovery.domain import Selection, Selector
from autoloader_discovery.ledger import Ledger, ListingState
from autoloader_sources.base import Source, SourceNotFound
from autoloader_sources.registry import open_source

CredentialsFor = Callable[[str, str | None], Awaitable[Mapping[str, str] | None]]
"""(tenant id, credential ref) -> decrypted credentials, None for ambient identity."""

LEDGER_CHUNK = 500
SETTLE_BY_RELISTING = frozenset({"ftp", "sftp"})
"""Servers without content identity: a file is taken only if size and mtime agree in two listings."""


class Scanner:
    """Opens an ingestion's source and feeds its listing through the selection rules."""

    def __init__(
        self, *, ledger: Ledger, listing_state: ListingState, credentials: CredentialsFor, allowed_roots: Sequence[Path]
    ) -> None:
        self._ledger = ledger
        self._state = listing_state
        self._credentials = credentials
        self._roots = tuple(allowed_roots)

    async def source(self, tenant_id: str, config: IngestionConfig) -> Source:
        """The connector for ``config`` with its decrypted credentials."""
        credentials = await self._credentials(tenant_id, config.source.credential_ref)
        return open_source(config.source, credentials=credentials, allowed_roots=self._roots)

    async def select(self, *, tenant_id: str, ingestion_id: str, config: IngestionConfig, now: datetime) -> Selection:
        """List the source (incrementally when configured) and select the files this run takes.

        Raises:
            TerminalError / TransientError: from the connector (missing path, bad credentials, network).
        """
        rules = config.discovery
        last_path, runs_since_full = await self._state.get(ingestion_id)
        incremental = (
            rules.incremental_listing
            and last_path is not None
            and (runs_since_full + 1 < rules.full_listing_every_runs)
        )
        selector = Selector(rules=rules, now=now)
        async with await self.source(tenant_id, config) as source:
            await self._offer_listing(selector, ingestion_id, source, start_after=last_path if incremental else None)
            if config.source.type in SETTLE_BY_RELISTING and selector.selection.new:
                await asyncio.sleep(rules.settle_interval_seconds)
                selector.drop_unstable(await _identities(source, {f.path for f in selector.selection.new}))
        if rules.incremental_listing:
            await self._state.put(ingestion_id, last_path=selector.selection.resume_after, full=not incremental)
        return selector.selection

    async def failed_files(
        self, *, tenant_id: str, config: IngestionConfig, run_id: str
    ) -> tuple[list[FileRef], list[str]]:
        """The files that failed in run ``run_id``, as they are now (a retry takes them again, unlisted).

        Returns:
            The failed files still in the source (current size, mtime, etag), and the failed paths
            that are gone.
        """
        found: list[FileRef] = []
        gone: list[str] = []
        paths = await self._ledger.failed_paths(run_id)
        if not paths:
            return found, gone
        async with await self.source(tenant_id, config) as source:
            for path in paths:
                try:
                    listed = await source.stat(path)
                except SourceNotFound:
                    gone.append(path)
                    continue
                found.append(FileRef(path=path, size=listed.size, modified_at=listed.modified_at, etag=listed.etag))
        return found, gone

    async def _offer_listing(
        self, selector: Selector, ingestion_id: str, source: Source, *, start_after: str | None
    ) -> None:
        async for chunk in chunked(source, start_after=start_after):
            known = await self._ledger.known_identities(ingestion_id, [f.path for f in chunk])
            selector.offer(chunk, known)


async def chunked(
    source: Source, *, start_after: str | None = None, size: int = LEDGER_CHUNK
) -> AsyncIterator[list[FileRef]]:
    """The listing as FileRefs, in chunks (one ledger query per chunk keeps memory constant)."""
    chunk: list[FileRef] = []
    async for listed in source.list_files(start_after=start_after):
        chunk.append(FileRef(path=listed.path, size=listed.size, modified_at=listed.modified_at, etag=listed.etag))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _identities(source: Source, paths: set[str]) -> dict[str, str]:
    """A second listing, reduced to the identities of ``paths``."""
    found: dict[str, str] = {}
    async for chunk in chunked(source):
        found.update((f.path, f.identity) for f in chunk if f.path in paths)
    return found
