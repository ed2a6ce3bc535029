"""Which ingestions are due when: the scheduler's pure state machine.

:class:`Schedules` is fed the ingestion lifecycle events and the scheduled ``RunRequested``
events (from any scheduler instance) and answers two questions: which ticks are due at a moment,
and when the next one will be. It never reads a clock itself.

One rule covers normal running and restarts alike: an ingestion is due for the most recent
tick at or before *now* that is later than its *floor*, the later of

- when it last became schedulable (created active, activated, resumed, or its schedule changed),
- the last tick any scheduler requested for it.

Many ticks missed during downtime therefore coalesce into one catch-up run, ticks missed while
paused are never caught up (resuming moves the floor), and a tick another instance already
requested is not requested again.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from autoloader_contracts import schedule as cron
from autoloader_contracts.events import (
    Event,
    IngestionActivated,
    IngestionCreated,
    IngestionDeleted,
    IngestionPaused,
    IngestionResumed,
    IngestionUpdated,
    RunRequested,
)
from autoloader_contracts.ingestion import ScheduleSpec
from autoloader_contracts.schedule import ScheduleError
from autoloader_core.ids import deterministic_id

SCHEDULED: Final = "scheduled"
ACTOR = "service:scheduler"
CACHED_FIRE_TIMES = 65_536
"""Fire times remembered per (schedule, moment): ingestions sharing a schedule tick together, so
one cron evaluation (~0.2 ms) serves them all."""

# Pure functions of a frozen spec and a moment; evaluating a cron costs far more than a lookup.
# Exceptions (a cron that never matches) are not cached: such an ingestion is set aside at once.
cron_of = functools.lru_cache(maxsize=CACHED_FIRE_TIMES)(cron.cron_of)
next_fire_time = functools.lru_cache(maxsize=CACHED_FIRE_TIMES)(cron.next_fire_time)
previous_fire_time = functools.lru_cache(maxsize=CACHED_FIRE_TIMES)(cron.previous_fire_time)


@dataclass(frozen=True)
class Tick:
    """One due scheduled run of one ingestion.

    Attributes:
        tenant_id: Owning tenant.
        ingestion_id: The ingestion to run.
        due: The schedule's due time (UTC) this run is for.
    """

    tenant_id: str
    ingestion_id: str
    due: datetime

    @functools.cached_property  # a tick is short-lived; each id is asked for several times
    def run_id(self) -> str:
        """The run's id: derived from ingestion and due time so every instance computes the same one."""
        return scheduled_run_id(self.ingestion_id, self.due)

    @functools.cached_property
    def event_id(self) -> str:
        """The ``RunRequested`` event id (its NATS Msg-Id), equally deterministic."""
        return deterministic_id("evt", self.run_id, "requested")


def scheduled_run_id(ingestion_id: str, due: datetime) -> str:
    """Return the run id of ``ingestion_id``'s scheduled run for ``due``."""
    return deterministic_id("run", ingestion_id, due.isoformat())


@dataclass
class _Entry:
    tenant_id: str
    status: str
    schedule: ScheduleSpec
    since: datetime
    """When the ingestion last became schedulable: no tick at or before it is owed."""
    error: str | None = None
    version: int = 0
    """Bumped on every re-plan: heap items of an older version are stale and skipped."""


class Schedules:
    """The schedules of every known ingestion, folded from events.

    The next due time of every schedulable ingestion sits in a min-heap, so a tick costs
    O(log n) in the number of ingestions, not a scan of all of them. An ingestion is re-planned
    (a new heap item pushed, the old one left behind as stale: lazy invalidation) whenever its
    status, schedule or last requested tick changes; stale items are dropped when they surface.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        # Kept apart from the entries: another instance's RunRequested may be read before the
        # ingestion's own events when they come from separate subscriptions.
        self._last_requested: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str, int]] = []
        """(next due, ingestion id, entry version) of every schedulable ingestion, plus stale items."""
        self._errors: dict[str, str] = {}

    def apply(self, event: Event, observed_at: datetime | None = None) -> bool:
        """Fold ``event`` into the schedules.

        Args:
            event: An ingestion lifecycle event or a ``RunRequested``; others are ignored.
            observed_at: When this scheduler saw the event live (its own clock). A change then
                counts from the later of that and ``occurred_at``, so ticks the scheduler's clock
                already passed are not owed (matters for sped-up test clocks). ``None`` during
                replay: history counts from ``occurred_at``.

        Returns:
            Whether the due times may have changed (the timer should re-plan).
        """
        at = event.occurred_at if observed_at is None else max(event.occurred_at, observed_at)
        if isinstance(event, RunRequested):
            return self._requested(event)
        if isinstance(event, IngestionCreated):
            schedule = event.config.schedule
            previous = self._entries.get(event.aggregate_id)
            created = _Entry(tenant_id=event.tenant_id, status=event.status, schedule=schedule, since=at,
                             version=previous.version + 1 if previous else 0)
            self._entries[event.aggregate_id] = created
            self._checked(event.aggregate_id, created)
            self._plan(event.aggregate_id)
            return True
        entry = self._entries.get(event.aggregate_id)
        if entry is None:
            return False
        changed = self._transition(event.aggregate_id, entry, event, at)
        if changed:
            self._plan(event.aggregate_id)
        return changed

    def _transition(self, ingestion_id: str, entry: _Entry, event: Event, at: datetime) -> bool:
        if isinstance(event, IngestionDeleted):
            del self._entries[ingestion_id]
            self._errors.pop(ingestion_id, None)
        elif isinstance(event, IngestionPaused):
            entry.status = "paused"
        elif isinstance(event, IngestionActivated | IngestionResumed):
            entry.status, entry.since = "active", at
        elif isinstance(event, IngestionUpdated):
            if event.config.schedule == entry.schedule:
                return False
            entry.schedule, entry.since = event.config.schedule, at
            self._checked(ingestion_id, entry)
        else:
            return False
        return True

    def _requested(self, event: RunRequested) -> bool:
        if event.trigger != SCHEDULED or event.scheduled_for is None:
            return False
        last = self._last_requested.get(event.ingestion_id)
        if last is not None and last >= event.scheduled_for:
            return False
        self._last_requested[event.ingestion_id] = event.scheduled_for
        self._plan(event.ingestion_id)
        return True

    def _checked(self, ingestion_id: str, entry: _Entry) -> None:
        try:
            cron_of(entry.schedule)
        except ScheduleError as exc:
            self._set_error(ingestion_id, entry, f"schedule.{exc.field}: {exc.message}")
        else:
            self._set_error(ingestion_id, entry, None)

    def _set_error(self, ingestion_id: str, entry: _Entry, error: str | None) -> None:
        entry.error = error
        if error is None:
            self._errors.pop(ingestion_id, None)
        else:
            self._errors[ingestion_id] = error

    def mark_requested(self, tick: Tick) -> None:
        """Record that ``tick``'s run was requested (by us or, as a conflict showed, by another)."""
        last = self._last_requested.get(tick.ingestion_id)
        if last is None or tick.due > last:
            self._last_requested[tick.ingestion_id] = tick.due
            self._plan(tick.ingestion_id)

    def _plan(self, ingestion_id: str) -> None:
        """Invalidate the ingestion's heap item and push its current next due time (if any)."""
        entry = self._entries.get(ingestion_id)
        if entry is None:
            return
        entry.version += 1
        if not self._schedulable(entry):
            return
        moment = self._guarded(ingestion_id, entry, next_fire_time, self._floor(ingestion_id, entry))
        if moment is not None:
            heapq.heappush(self._heap, (moment, ingestion_id, entry.version))

    def _current(self, item: tuple[datetime, str, int]) -> _Entry | None:
        entry = self._entries.get(item[1])
        if entry is None or entry.version != item[2] or not self._schedulable(entry):
            return None
        return entry

    def _top(self) -> tuple[datetime, str, int] | None:
        """The earliest current heap item, dropping stale ones on the way."""
        while self._heap:
            if self._current(self._heap[0]) is not None:
                return self._heap[0]
            heapq.heappop(self._heap)
        return None

    def due(self, now: datetime) -> list[Tick]:
        """Return the ticks due at ``now``: at most one per ingestion (missed ticks coalesce).

        Costs O(k log n) for k due ingestions of n: only the heap items at or before ``now`` are
        looked at (and put back: the ticks stay due until :meth:`mark_requested`).
        """
        ticks = []
        popped = []
        while (top := self._top()) is not None and top[0] <= now:
            popped.append(heapq.heappop(self._heap))
            ingestion_id = top[1]
            entry = self._entries[ingestion_id]
            latest = self._guarded(ingestion_id, entry, previous_fire_time, now)
            if latest is not None and latest > self._floor(ingestion_id, entry):
                ticks.append(Tick(tenant_id=entry.tenant_id, ingestion_id=ingestion_id, due=latest))
        for item in popped:
            heapq.heappush(self._heap, item)
        return sorted(ticks, key=lambda t: (t.due, t.ingestion_id))

    def next_due(self) -> datetime | None:
        """Return the earliest tick not yet requested of any ingestion (``None``: nothing scheduled).

        It may already be past; :meth:`due` then returns it (or a later coalesced one).
        """
        top = self._top()
        return None if top is None else top[0]

    def _guarded(
        self,
        ingestion_id: str,
        entry: _Entry,
        fire_time: Callable[[ScheduleSpec, datetime], datetime | None],
        moment: datetime,
    ) -> datetime | None:
        # A valid-looking cron can still never match (``0 0 31 2 *``): croniter then raises. That
        # ingestion is set aside with the reason instead of stopping every other schedule.
        try:
            return fire_time(entry.schedule, moment)
        except ValueError as exc:
            self._set_error(ingestion_id, entry, f"schedule: {exc}; the schedule never fires, fix it with an update")
            return None

    def errors(self) -> dict[str, str]:
        """Return ingestion id -> why its schedule cannot be used (those ingestions are skipped)."""
        return dict(self._errors)

    def is_scheduled(self, ingestion_id: str) -> bool:
        """Tell whether ``ingestion_id`` currently gets scheduled runs."""
        entry = self._entries.get(ingestion_id)
        return entry is not None and self._schedulable(entry)

    @staticmethod
    def _schedulable(entry: _Entry) -> bool:
        return entry.status == "active" and entry.error is None and entry.schedule.frequency != "manual"

    def _floor(self, ingestion_id: str, entry: _Entry) -> datetime:
        last = self._last_requested.get(ingestion_id)
        return entry.since if last is None else max(entry.since, last)


def run_requested(tick: Tick, now: datetime) -> RunRequested:
    """Return the ``RunRequested`` event for ``tick``, the same on every instance but for ``occurred_at``.

    Appended with ``expected_version=0`` on the run aggregate, a second append of it (another
    instance, or a restart) is refused or deduplicated: a tick never becomes two runs.
    """
    return RunRequested(
        event_id=tick.event_id,
        occurred_at=now,
        tenant_id=tick.tenant_id,
        aggregate_id=tick.run_id,
        actor=ACTOR,
        correlation_id=tick.run_id,
        ingestion_id=tick.ingestion_id,
        trigger=SCHEDULED,
        scheduled_for=tick.due,
    )
