"""The scheduler's event loop: replay the log, follow it, and fire due ticks on time.

Two tasks share one :class:`~autoloader_scheduler.domain.Schedules`: the follower applies new
ingestion and ``RunRequested`` events as they are appended, and the timer sleeps until the
earliest due time, woken early whenever the follower changed something. With a
:class:`~autoloader_scheduler.lease.LeaderLease` a third task keeps the lease: every replica
follows the log, only the leader fires, and a follower that takes the lease over fires what
became due meanwhile (late, not skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import PIPELINED_APPENDS, AppendOutcome, EventStore, StoredEvent
from autoloader_bus.follow import follow
from autoloader_contracts.events import RunRequested
from autoloader_contracts.subjects import aggregate_events, events_of
from autoloader_core.clock import Clock
from autoloader_core.errors import ConflictError, TerminalError, TransientError
from autoloader_core.metrics import Instruments
from autoloader_core.telemetry import process_telemetry
from autoloader_core.tracing import Span, TraceContext, mark_failed, start_span
from autoloader_scheduler.domain import Schedules, Tick, run_requested
from autoloader_scheduler.lease import LeaderLease

log = logging.getLogger(__name__)

FILTERS = (aggregate_events("ingestion"), events_of(RunRequested))
READER = "scheduler"
FOLLOW_PENDING_MESSAGES = 100_000
"""Messages the follower's subscription may buffer. The leader's own 10,000 ticks of a minute come
back within about a second while the timer still holds the event loop; with the former 5,000 nats-py
dropped the overflow as a slow consumer (and the scheduler bench could hang)."""
RETRY_SECONDS = 1.0
"""Real seconds before ticks whose append failed transiently are tried again."""
MAX_SLEEP_SECONDS = 30.0
"""Real seconds the timer sleeps at most, so a wall-clock jump is noticed without any event."""
FIRE_CONCURRENCY = PIPELINED_APPENDS
"""Appends in flight at once when many ticks are due together (10,000 per-minute crons)."""
FIRE_CHUNK = 2_500
"""Ticks appended per :meth:`EventStore.append_many`; the lease is checked between chunks (each
chunk ends by waiting for its last acks, so smaller chunks leave the pipeline idle more often)."""


class Scheduler:
    """Keeps :class:`Schedules` current from the event log and appends ``RunRequested`` when due.

    Args:
        bus: The connected bus.
        clock: Source of "now" for due times (tests inject a fake or sped-up one).
        stop: Set to stop.
        instruments: Metric instruments (default: the process's).
        lease: The leader lease when replicas may run side by side; ``None``: always fire.
        concurrency: Appends in flight at once.
        schedules: The state machine to fold events into (the bench passes the old scanning one).
    """

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        stop: asyncio.Event,
        instruments: Instruments | None = None,
        *,
        lease: LeaderLease | None = None,
        concurrency: int = FIRE_CONCURRENCY,
        schedules: Schedules | None = None,
    ) -> None:
        self._bus = bus
        self._lease = lease
        self._concurrency = concurrency
        self._instruments = instruments or process_telemetry().instruments
        self._store = EventStore(bus)
        self._clock = clock
        self._stop = stop
        self._schedules = Schedules() if schedules is None else schedules
        self._changed = asyncio.Event()
        self._not_firing = asyncio.Event()
        self._not_firing.set()
        self._position = 0
        self._reported: dict[str, str] = {}

    @property
    def is_leader(self) -> bool:
        """Whether this replica fires ticks now."""
        return self._lease is None or self._lease.is_leader

    def leadership_changed(self, leader: bool) -> None:
        """Wake the timer (pass as the lease's ``on_change``): a new leader fires what is due."""
        log.info("scheduler leadership changed", extra={"leader": leader})
        self._changed.set()

    @property
    def schedules(self) -> Schedules:
        """The current schedules (read-only use)."""
        return self._schedules

    async def replay(self) -> None:
        """Rebuild the schedules from every ingestion event and ``RunRequested`` already stored.

        Raises:
            TransientError: NATS did not answer.
        """
        target = await self._store.last_sequence()
        history: list[StoredEvent] = []
        if target:
            # One ordered consumer streams the history (one request per event would be slow on a
            # long log). Events appended meanwhile are left to the follower, which starts after it.
            replay = follow(self._bus, FILTERS, after=0, stop=self._stop, reader=READER,
                            pending_msgs_limit=FOLLOW_PENDING_MESSAGES)
            async with contextlib.aclosing(replay) as batches:
                async for batch in batches:
                    history += [stored for stored in batch if stored.seq <= target]
                    if not batch or batch[-1].seq >= target:
                        break
        # The follower resumes right after the last event applied here, so nothing can be skipped
        # even if the replay went idle before reaching `target`.
        self._position = history[-1].seq if history else 0
        for stored in history:
            self._apply(stored, observed_at=None)
        self._report_errors()
        log.info("schedules replayed", extra={"position": self._position, "events": len(history)})

    async def run(self) -> None:
        """Follow the log and fire due ticks until the stop event is set."""
        tasks = [asyncio.create_task(self._follow_forever()), asyncio.create_task(self._timer())]
        if self._lease is not None:
            tasks.append(asyncio.create_task(self._lease.run(self._stop)))
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- following the log --------------------------------------------------------------------

    async def _follow_forever(self) -> None:
        while not self._stop.is_set():
            try:
                following = follow(self._bus, FILTERS, after=self._position, stop=self._stop, reader=READER,
                                   pending_msgs_limit=FOLLOW_PENDING_MESSAGES)
                async for batch in following:
                    # While a burst of ticks is being appended the follower waits (its messages
                    # queue up in the subscription): reading back our own ticks meanwhile would
                    # only slow the appends down. A change that arrives then applies after the burst.
                    await self._not_firing.wait()
                    self._apply_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The follower resumes from the last applied position: nothing is lost or doubled.
                log.exception("following the event log failed; resuming", extra={"position": self._position})
                await _wait_or_stop(self._stop, RETRY_SECONDS)

    def _apply_batch(self, batch: list[StoredEvent]) -> None:
        changed = False
        for stored in batch:
            if stored.seq <= self._position:
                continue
            changed |= self._apply(stored, observed_at=self._clock.now())
            self._position = stored.seq
        if changed:
            self._report_errors()
            self._changed.set()

    def _apply(self, stored: StoredEvent, *, observed_at: datetime | None) -> bool:
        try:
            return bool(self._schedules.apply(stored.event, observed_at=observed_at))
        except Exception:
            # One malformed event must not stop scheduling of every other ingestion.
            log.exception("event skipped", extra={"seq": stored.seq, "event_type": stored.event.type_tag(),
                                                  "aggregate_id": stored.event.aggregate_id})
            return False

    def _report_errors(self) -> None:
        errors = self._schedules.errors()
        for ingestion_id, message in errors.items():
            if self._reported.get(ingestion_id) != message:
                log.warning("ingestion not scheduled", extra={"ingestion_id": ingestion_id, "error": message})
        self._reported = errors

    # --- firing --------------------------------------------------------------------------------

    async def _timer(self) -> None:
        while not self._stop.is_set():
            self._changed.clear()
            if not self.is_leader:
                # A follower only keeps its schedules current; the lease wakes it when it leads.
                await _first_of([self._changed.wait(), self._stop.wait()], limit=MAX_SLEEP_SECONDS)
                continue
            try:
                all_fired = await self._fire_due()
                self._report_errors()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Nothing may end the timer task: it would stop every schedule, silently. Ticks not
                # marked requested stay due and are tried again after the retry pause.
                log.exception("firing due ticks failed; retrying")
                all_fired = False
            await self._sleep(retry=not all_fired)

    async def _fire_due(self) -> bool:
        """Append the ``RunRequested`` of every due tick; return False when some should be retried."""
        ticks = self._schedules.due(self._clock.now())
        all_fired = True
        self._not_firing.clear()
        try:
            for start in range(0, len(ticks), FIRE_CHUNK):
                if not self.is_leader:
                    return True  # lost the lease mid-way: the new leader fires the rest
                all_fired &= await self._fire_many(ticks[start:start + FIRE_CHUNK])
        finally:
            self._not_firing.set()
        return all_fired

    async def _fire_many(self, ticks: list[Tick]) -> bool:
        """Append the ticks' ``RunRequested`` events pipelined, settling each tick as its ack comes."""
        now = self._clock.now()
        batch: list[tuple[Tick, RunRequested, Span, TraceContext]] = []
        all_fired = True
        for tick in ticks:
            try:
                event = run_requested(tick, now)
                # A scheduled run's trace starts here: every service its RunRequested reaches continues it.
                tick_span, trace = start_span("scheduled tick", attributes={
                    "autoloader.ingestion_id": tick.ingestion_id, "autoloader.run_id": tick.run_id})
            except Exception:
                # One broken tick must not hold back the others; the next tick tries again.
                log.exception("requesting the run failed; tick skipped", extra=_context(tick))
                all_fired &= self._settled(tick)
                continue
            batch.append((tick, event, tick_span, trace))
        requested = 0

        def settle(index: int, outcome: AppendOutcome) -> None:
            nonlocal all_fired, requested
            tick, _, tick_span, _ = batch[index]
            try:
                done = self._fired(tick, outcome)
                if isinstance(outcome, int):
                    requested += 1
                else:
                    mark_failed(tick_span, str(outcome))
            except Exception:
                log.exception("settling a tick failed; tick skipped", extra=_context(tick))
                done = self._settled(tick)
            finally:
                tick_span.end()
            all_fired &= done

        await self._store.append_many(
            [event for _, event, _, _ in batch], expected_version=0,
            traces=[trace for _, _, _, trace in batch], in_flight=self._concurrency, on_outcome=settle,
        )
        if requested:
            log.info("scheduled runs requested", extra={"count": requested, "due": len(ticks)})
        return all_fired

    def _fired(self, tick: Tick, outcome: AppendOutcome) -> bool:
        """Settle ``tick`` after its append; return False when it should be retried later."""
        if isinstance(outcome, ConflictError):
            log.info("tick already requested by another scheduler", extra=_context(tick))
        elif isinstance(outcome, TransientError):
            log.warning("requesting the run failed; will retry", extra={**_context(tick), "error": str(outcome)})
            return False
        elif isinstance(outcome, TerminalError):
            # Not retryable: give this tick up rather than spin on it; the next tick tries again.
            log.error("requesting the run failed; tick skipped", extra={**_context(tick), "error": str(outcome)})
        else:
            self._instruments.tick_lag.record(max(0.0, (self._clock.now() - tick.due).total_seconds()))
            log.debug("scheduled run requested", extra=_context(tick))
        self._schedules.mark_requested(tick)
        return True

    def _settled(self, tick: Tick) -> bool:
        """Give ``tick`` up (not retryable); False if even that failed (then retry it later)."""
        try:
            self._schedules.mark_requested(tick)
        except Exception:
            log.exception("giving a tick up failed", extra=_context(tick))
            return False
        return True

    async def _sleep(self, *, retry: bool) -> None:
        waits: list[Coroutine[Any, Any, Any]] = [self._changed.wait(), self._stop.wait()]
        wake = self._schedules.next_due()
        if wake is not None and not retry:
            waits.append(self._clock.sleep_until(wake))
        await _first_of(waits, limit=RETRY_SECONDS if retry else MAX_SLEEP_SECONDS)


def _context(tick: Tick) -> dict[str, str]:
    return {"ingestion_id": tick.ingestion_id, "run_id": tick.run_id, "scheduled_for": tick.due.isoformat()}


async def _first_of(waits: list[Coroutine[Any, Any, Any]], *, limit: float) -> None:
    tasks = [asyncio.create_task(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
