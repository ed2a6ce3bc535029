"""Request/reply: which files a run would take (previews and run-control dry runs). Nothing is written.

The same :class:`~autoloader_discovery.scanning.Scanner` and rules as a real run answer, so a
preview names the files the next run loads; only the listing position is not recorded and the
listing may stop early (the reply then says its counts are lower bounds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from autoloader_contracts.rpc import SelectFilesReply, SelectFilesRequest
from autoloader_core.clock import Clock
from autoloader_core.errors import TerminalError, TransientError
from autoloader_discovery.domain import Selection
from autoloader_discovery.scanning import Scanner, scan_plan
from autoloader_sources.base import SourceAuthError, SourceNotFound

SELECT_TIME_LIMIT = 60.0

OpenSealed = Callable[[str, str], Mapping[str, str]]
"""(tenant id, sealed credentials) -> credentials (the credential store's ``open_transient``)."""


class FileSelection:
    """Answers :data:`autoloader_contracts.rpc.SELECT_FILES`."""

    def __init__(self, *, scanner: Scanner, open_sealed: OpenSealed, clock: Clock) -> None:
        self._scanner = scanner
        self._open_sealed = open_sealed
        self._clock = clock

    async def select_files(self, request: SelectFilesRequest) -> SelectFilesReply:
        """List and diff like the run would; every source failure is a report, not an error.

        Raises:
            TerminalError: The sealed credentials cannot be opened (expired, another tenant's).
        """
        credentials = None
        if request.sealed_credentials is not None:
            credentials = self._open_sealed(request.tenant_id, request.sealed_credentials)
        plan = scan_plan(
            request.mode, window_from=request.window_from, window_to=request.window_to, listing_cap=request.listing_cap
        )
        try:
            selection = await asyncio.wait_for(
                self._scanner.select(
                    tenant_id=request.tenant_id,
                    ingestion_id=request.ingestion_id,
                    config=request.config,
                    now=self._clock.now(),
                    plan=plan,
                    persist=False,
                    credentials=credentials,
                ),
                SELECT_TIME_LIMIT,
            )
        except SourceAuthError as exc:
            return SelectFilesReply(reachable=True, authorised=False, message=exc.message)
        except SourceNotFound as exc:
            return SelectFilesReply(reachable=True, authorised=True, message=exc.message)
        except TimeoutError:
            return SelectFilesReply(
                reachable=False,
                authorised=False,
                message=f"the listing did not finish within {SELECT_TIME_LIMIT:.0f} s",
            )
        except (TransientError, TerminalError) as exc:
            return SelectFilesReply(reachable=False, authorised=False, message=exc.message)
        return _reply(selection, request)


def _reply(selection: Selection, request: SelectFilesRequest) -> SelectFilesReply:
    more = " or more" if selection.stopped_early else ""
    marked = len(selection.new) if request.mode == "reset" else 0
    return SelectFilesReply(
        reachable=True,
        authorised=True,
        message=f"connected: {selection.listed}{more} matching files listed, {len(selection.new)} to take",
        files=selection.new[: max(0, request.first)],
        count=0 if request.mode == "reset" else len(selection.new),
        bytes=0 if request.mode == "reset" else selection.new_bytes,
        count_is_lower_bound=selection.stopped_early,
        listed=selection.listed,
        already_known=selection.known,
        changed=selection.changed,
        unsettled=selection.unsettled,
        backlog_files=selection.backlog_files,
        backlog_bytes=selection.backlog_bytes,
        marked_seen=marked,
    )
