"""Listing a source and selecting what a run takes (the I/O side of the discovery rules)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from autoloader_contracts.events import FileRef
from autoloader_contracts.ingestion import IngestionConfig
from autoloader_contracts.rpc import SelectionMode
from autoloader_core.metrics import Instruments
from autoloader_core.telemetry import process_telemetry
from autoloader_core.tracing import SpanKind, span
from autoloader_discovery.domain import Selection, SelectionRules, Selector
from autoloader_discovery.ledger import Ledger, ListingState, file_ref
from autoloader_sources.base import ListedFile, Source, SourceNotFound
from autoloader_sources.registry import open_source

CredentialsFor = Callable[[str, str | None], Awaitable[Mapping[str, str] | None]]
"""(tenant id, credential ref) -> decrypted credentials, None for ambient identity."""

LEDGER_PAGE = 1000
"""Listed files per ledger anti-join (one query per page)."""
LEDGER_CHUNK = 500
SETTLE_BY_RELISTING = frozenset({"ftp", "sftp"})
"""Servers without content identity: a file is taken only if size and mtime agree in two listings."""
LOADED_STATES = ("loaded", "loading")
FULL_RUN_LISTING = 10_000
"""A capped listing (a preview) stops once the run is full and this many entries were seen."""


@dataclass(frozen=True)
class ScanPlan:
    """How a run, or a preview of one, lists the source and diffs it against the ledger.

    Attributes:
        rules: Limits, settle rule and backfill window.
        ledger: Which ledger rows count as known: ``all``, only ``loaded`` ones (a backfill takes
            skipped and failed files too), or ``none`` (the ledger is about to be forgotten).
        incremental: The run may list incrementally (and records where it stopped).
        listing_cap: Stop listing after this many entries (previews); None lists everything.
    """

    rules: SelectionRules = field(default_factory=SelectionRules)
    ledger: Literal["all", "loaded", "none"] = "all"
    incremental: bool = True
    listing_cap: int | None = None


def scan_plan(
    mode: SelectionMode,
    *,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    listing_cap: int | None = None,
) -> ScanPlan:
    """The scan of a run of ``mode`` (``next_run`` or a run-control operation)."""
    if mode in ("refresh_full", "forget_files"):
        return ScanPlan(ledger="none", incremental=False, listing_cap=listing_cap)
    if mode == "backfill":
        window = SelectionRules(limits=False, window_from=window_from, window_to=window_to)
        return ScanPlan(rules=window, ledger="loaded", incremental=False, listing_cap=listing_cap)
    if mode == "reset":
        return ScanPlan(rules=SelectionRules(limits=False, settle=False), incremental=False, listing_cap=listing_cap)
    return ScanPlan(listing_cap=listing_cap)


class Scanner:
    """Opens an ingestion's source and feeds its listing through the selection rules."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        listing_state: ListingState,
        credentials: CredentialsFor,
        allowed_roots: Sequence[Path],
        instruments: Instruments | None = None,
    ) -> None:
        self._ledger = ledger
        self._state = listing_state
        self._credentials = credentials
        self._roots = tuple(allowed_roots)
        self._instruments = instruments or process_telemetry().instruments

    async def source(
        self, tenant_id: str, config: IngestionConfig, *, credentials: Mapping[str, str] | None = None
    ) -> Source:
        """The connector for ``config`` with its decrypted credentials (or the ``credentials`` given)."""
        if credentials is None:
            credentials = await self._credentials(tenant_id, config.source.credential_ref)
        return open_source(config.source, credentials=credentials, allowed_roots=self._roots)

    async def select(
        self,
        *,
        tenant_id: str,
        ingestion_id: str | None,
        config: IngestionConfig,
        now: datetime,
        plan: ScanPlan = ScanPlan(),
        persist: bool = True,
        credentials: Mapping[str, str] | None = None,
    ) -> Selection:
        """List the source (incrementally when configured) and select the files this run takes.

        Args:
            tenant_id: The ingestion's tenant.
            ingestion_id: Whose ledger counts (None: an unsaved configuration, nothing is known).
            config: The configuration.
            now: The run's time (settle rule).
            plan: The run's scan (see :func:`scan_plan`).
            persist: Record where an incremental listing stopped (False for previews).
            credentials: Use these instead of the configuration's stored ones (unsaved configurations).

        Raises:
            TerminalError / TransientError: from the connector (missing path, bad credentials, network).
        """
        rules = config.discovery
        start_after, incremental = await self._start_after(ingestion_id, config, plan)
        selector = Selector(rules=rules, now=now, run=plan.rules)
        async with await self.source(tenant_id, config, credentials=credentials) as source:
            await self._offer_listing(
                selector, ingestion_id, source, start_after=start_after, plan=plan, scheme=config.source.type
            )
            if config.source.type in SETTLE_BY_RELISTING and selector.selection.new and plan.rules.settle:
                await asyncio.sleep(rules.settle_interval_seconds)
                selector.drop_unstable(await _identities(source, {f.path for f in selector.selection.new}))
        if persist and ingestion_id is not None and rules.incremental_listing and plan.incremental:
            await self._state.put(ingestion_id, last_path=selector.selection.resume_after, full=not incremental)
        return selector.selection

    async def _start_after(
        self, ingestion_id: str | None, config: IngestionConfig, plan: ScanPlan
    ) -> tuple[str | None, bool]:
        """Where the listing starts, and whether it is incremental (else a full listing)."""
        rules = config.discovery
        if ingestion_id is None or not (plan.incremental and rules.incremental_listing):
            return None, False
        last_path, runs_since_full = await self._state.get(ingestion_id)
        incremental = last_path is not None and runs_since_full + 1 < rules.full_listing_every_runs
        return (last_path if incremental else None), incremental

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
        self,
        selector: Selector,
        ingestion_id: str | None,
        source: Source,
        *,
        start_after: str | None,
        plan: ScanPlan,
        scheme: str,
    ) -> None:
        """Feed the listing to ``selector``, timing it and counting what was listed (by scheme).

        Page by page: each page's ledger anti-join is sent as soon as the page is listed and runs
        while the next page is listed, and the page is offered once its answer is in.
        """
        started = time.monotonic()
        listed = 0
        lookup = self._lookup(ingestion_id, plan)
        asked: list[asyncio.Future[dict[int, bool]]] = []
        previous: list[ListedFile] | None = None
        try:
            with span("list files", kind=SpanKind.CLIENT, attributes={"source.scheme": scheme}) as current:
                async with aclosing(source.list_pages(start_after=start_after, size=LEDGER_PAGE)) as pages:
                    async for page in pages:
                        listed += len(page)
                        current.set_attribute("objects_listed", listed)
                        if lookup is not None:
                            asked.append(asyncio.ensure_future(lookup(page)))
                        if previous is not None and await self._offer_page(selector, previous, asked, plan.listing_cap):
                            return
                        previous = page
                if previous is not None:
                    await self._offer_page(selector, previous, asked, plan.listing_cap)
        finally:
            for unanswered in asked:  # a page not offered: the listing stopped early or failed
                if not unanswered.cancel() and not unanswered.cancelled():
                    unanswered.exception()  # answered already: retrieved, so asyncio does not log it
            labels = {"scheme": scheme}
            self._instruments.listing_duration.record(time.monotonic() - started, labels)
            self._instruments.objects_listed.add(listed, labels)

    def _lookup(
        self, ingestion_id: str | None, plan: ScanPlan
    ) -> Callable[[list[ListedFile]], Awaitable[dict[int, bool]]] | None:
        """The ledger anti-join of one page (None: the run counts nothing as known)."""
        if ingestion_id is None or plan.ledger == "none":
            return None
        states = LOADED_STATES if plan.ledger == "loaded" else None
        ledger = self._ledger

        def unmatched(page: list[ListedFile]) -> Awaitable[dict[int, bool]]:
            paths = [f.path for f in page]
            # FileRef.identity (file_identity) inline: a call per file is a tenth of this step.
            identities = [f.etag or f"{f.size}:{f.modified_at.isoformat()}" for f in page]
            return ledger.unmatched_identities(ingestion_id, paths, identities, states=states)

        return unmatched

    @staticmethod
    async def _offer_page(
        selector: Selector, page: list[ListedFile], asked: list[asyncio.Future[dict[int, bool]]], cap: int | None
    ) -> bool:
        """Offer one listed page, given the oldest anti-join in ``asked`` (its own; none when nothing is known).

        Returns:
            True when a capped listing has seen enough (``stopped_early``).
        """
        if asked:
            offer_unmatched(selector, page, await asked.pop(0))
        else:
            selector.offer([file_ref(f.path, f.size, f.modified_at, f.etag) for f in page], {})
        if _enough(selector, cap):
            selector.selection.stopped_early = True
            return True
        return False


def offer_unmatched(selector: Selector, page: Sequence[ListedFile], unmatched: Mapping[int, bool]) -> None:
    """Offer ``page`` given its ledger anti-join (position -> changed), in listing order.

    Runs of known files are counted at once (:meth:`Selector.offer_known`); only the unmatched
    files become FileRefs, a changed one offered with its path known under no matching identity.
    """
    done = 0
    refs: list[FileRef] = []
    changed: dict[str, tuple[()]] = {}
    for index, other_identity in unmatched.items():
        if index > done and refs:
            selector.offer(refs, changed)
            refs, changed = [], {}
        selector.offer_known(index - done, page[index - 1].path)
        listed = page[index]
        refs.append(file_ref(listed.path, listed.size, listed.modified_at, listed.etag))
        if other_identity:
            changed[listed.path] = ()
        done = index + 1
    if refs:
        selector.offer(refs, changed)
    selector.offer_known(len(page) - done, page[-1].path)


def _enough(selector: Selector, cap: int | None) -> bool:
    """Whether a capped listing has seen enough: the cap, or a full run and what a preview shows of it."""
    if cap is None:
        return False
    listed = selector.selection.listed
    return listed >= cap or (selector.is_full() and listed >= min(cap, FULL_RUN_LISTING))


async def chunked(
    source: Source, *, start_after: str | None = None, size: int = LEDGER_CHUNK
) -> AsyncIterator[list[FileRef]]:
    """The listing as FileRefs, a page at a time (about ``size`` each; memory stays constant)."""
    async with aclosing(source.list_pages(start_after=start_after, size=size)) as pages:
        async for page in pages:
            yield [file_ref(f.path, f.size, f.modified_at, f.etag) for f in page]


async def _identities(source: Source, paths: set[str]) -> dict[str, str]:
    """A second listing, reduced to the identities of ``paths``."""
    found: dict[str, str] = {}
    async for chunk in chunked(source):
        found.update((f.path, f.identity) for f in chunk if f.path in paths)
    return found
