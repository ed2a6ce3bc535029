"""The run watchdog: no run stays ``running`` once nothing can finish it.

Only one run of an ingestion may be active, so a run left running by a lost outcome would turn
every later tick into ``RunSkipped``: the ingestion would be silently dead. The consumers' give-up
hooks record most failures; the watchdog is the backstop for what they could not record (a
service killed on a message's last delivery, an outcome append that failed, a handler given up).

It looks at runs running for longer than a grace period and, for each step still open, asks who
holds it. A step whose message a consumer still holds (not yet delivered, in progress, or waiting
for a redelivery) is left alone, however long it takes. A step whose consumer is done with it
(its stream sequence is at or below the consumer's :func:`done_through`) but that has no outcome
is settled: a batch is settled by the loader (loaded if its commit is in the table, else failed
with the reason), a recorded outcome that discovery gave up is applied again, and a run that can
no longer be planned is failed with an actionable error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from autoloader_bus.event_store import EventStore, StoredEvent
from autoloader_contracts import events as ev
from autoloader_core.clock import Clock
from autoloader_discovery.handlers import Discovery
from autoloader_discovery.ledger import Ledger, RunningRun

log = logging.getLogger(__name__)

ConsumerProgress = Callable[[str], Awaitable[int]]
"""``done_through`` of a durable consumer: the sequence up to which it finished every message."""
SettleBatch = Callable[[str, str, str], Awaitable[str]]
"""Ask the loader to settle a batch (tenant, batch id, reason) -> ``loaded`` | ``failed``."""

GAVE_UP_BATCH = (
    "the loader gave this batch up without recording an outcome (it stopped on the batch's last delivery); "
    "nothing of it was committed. Retry the run's failed files once the cause is fixed"
)
UNPLANNED = "the run could not be planned: its request was given up ({detail}); run the ingestion again"
DROP_GIVEN_UP = "the refresh could not drop the table: the loader gave the request up; run the refresh again"


@dataclass(frozen=True)
class Floors:
    """How far the two consumers a run depends on have got."""

    loader: int
    discovery: int


class RunWatchdog:
    """Settles runs that nothing would ever finish.

    Args:
        discovery: The use cases (to fail a run or apply an outcome again).
        ledger: Discovery's runs and batches.
        store: The event log.
        progress: ``done_through`` of a consumer by durable name.
        settle_batch: The loader's settle-batch call.
        clock: The clock.
        consumers: Durable names of the loader's and discovery's consumers.
        grace_seconds: Runs younger than this are not looked at.
    """

    def __init__(
        self,
        *,
        discovery: Discovery,
        ledger: Ledger,
        store: EventStore,
        progress: ConsumerProgress,
        settle_batch: SettleBatch,
        clock: Clock,
        consumers: tuple[str, str],
        grace_seconds: float,
    ) -> None:
        self._discovery = discovery
        self._ledger = ledger
        self._store = store
        self._progress = progress
        self._settle_batch = settle_batch
        self._clock = clock
        self._consumers = consumers
        self._grace = timedelta(seconds=grace_seconds)

    async def watch_forever(self, stop: asyncio.Event, *, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop`` is set; a failed check is logged and retried."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("run watchdog check failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def check(self) -> int:
        """Look at every run running longer than the grace period; return how many steps were settled."""
        runs = await self._ledger.running_since(self._clock.now() - self._grace)
        if not runs:
            return 0
        loader, discovery = self._consumers
        # Read before the histories: an outcome appended meanwhile has a higher sequence, so it
        # counts as still held (never settled twice).
        floors = Floors(loader=await self._progress(loader), discovery=await self._progress(discovery))
        settled = 0
        for run in runs:
            settled += await self._check_run(run, floors)
        return settled

    async def _check_run(self, run: RunningRun, floors: Floors) -> int:
        history = await self._store.read(run.tenant_id, "run", run.run_id)
        requested = _first(history, ev.RunRequested)
        if requested is None or requested.seq > floors.discovery:
            return 0  # discovery still holds the request
        assert isinstance(requested.event, ev.RunRequested)
        if not run.planned:
            return await self._check_unplanned(requested.event, history, floors)
        states = await self._ledger.batch_states(run.run_id)
        open_batches = [batch_id for batch_id, state in states.items() if state == "planned"]
        if not open_batches:
            # Every outcome is in the ledger but the run was not closed (given up in between).
            await self._discovery.complete_if_done(run.run_id, requested.event)
            return 1
        settled = 0
        for batch_id in open_batches:
            settled += await self._check_batch(requested.event, batch_id, floors)
        return settled

    async def _check_unplanned(self, requested: ev.RunRequested, history: list[StoredEvent], floors: Floors) -> int:
        dropped = _first(history, ev.TableDropped)
        drop_requested = _first(history, ev.TableDropRequested)
        if dropped is not None:
            if dropped.seq > floors.discovery:
                return 0
            message = UNPLANNED.format(detail="planning after the table drop failed for good")
        elif drop_requested is not None:
            if drop_requested.seq > floors.loader:
                return 0  # the loader still holds the drop
            message = DROP_GIVEN_UP
        else:
            message = UNPLANNED.format(detail="discovery gave it up")
        log.error("watchdog: failing a run that cannot be planned", extra={"run_id": requested.aggregate_id})
        await self._discovery.abandon_run(requested, "run_abandoned", message)
        return 1

    async def _check_batch(self, requested: ev.RunRequested, batch_id: str, floors: Floors) -> int:
        history = await self._store.read(requested.tenant_id, "batch", batch_id)
        outcome = _first(history, ev.BatchLoaded) or _first(history, ev.BatchFailed)
        planned = _first(history, ev.BatchPlanned)
        if outcome is not None:
            if outcome.seq > floors.discovery:
                return 0  # on its way to discovery
            log.warning("watchdog: applying a batch outcome discovery gave up", extra={"batch_id": batch_id})
            await self._discovery.apply_outcome(outcome.event)
            return 1
        if planned is None:
            # Claimed but never published (discovery stopped between the two): publish it now.
            log.warning("watchdog: publishing the plans of a run again", extra={"run_id": requested.aggregate_id})
            await self._discovery.republish(requested)
            return 1
        if planned.seq > floors.loader:
            return 0  # the loader still holds it (queued, loading, or waiting for a redelivery)
        outcome_name = await self._settle_batch(requested.tenant_id, batch_id, GAVE_UP_BATCH)
        log.error("watchdog: settled a batch the loader gave up", extra={"batch_id": batch_id, "outcome": outcome_name})
        return 1


def _first(history: list[StoredEvent], event_type: type[ev.Event]) -> StoredEvent | None:
    return next((stored for stored in history if isinstance(stored.event, event_type)), None)
