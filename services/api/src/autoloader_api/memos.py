"""Per-process memos of what every ingestion response recomputes from its schedule.

A page of 50 ingestions asks for 50 next run times and 50 schedule descriptions on every request;
each next run time builds a croniter (about a millisecond), although the answer only changes when
the schedule fires. Both memos are bounded (least recently used entries go first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from autoloader_contracts.ingestion import IngestionConfig, ScheduleSpec
from autoloader_contracts.schedule import describe, next_fire_time

K = TypeVar("K")
V = TypeVar("V")

MEMO_SIZE = 8192
"""Schedules remembered per memo (distinct schedules, not ingestions: many share one)."""


class Bounded(Generic[K, V]):
    """A small LRU map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``, forgetting the least recently used entry when full."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class NextFireTimes:
    """``next_fire_time(spec, after)``, computed once per schedule and due time.

    The due times of a schedule are a fixed set of instants and ``next_fire_time`` returns the first
    one after ``after``; so once it answered ``due`` for ``asked``, every ``after`` in
    ``[asked, due)`` has the same answer. Manual schedules (no due time) are remembered as such.
    Invalid schedules raise ``ScheduleError`` every time, as the function does.
    """

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._known: Bounded[ScheduleSpec, tuple[datetime, datetime | None]] = Bounded(size)
        self.computed = 0
        """How many times the memo called ``next_fire_time`` (tests read it)."""

    def __call__(self, spec: ScheduleSpec, after: datetime) -> datetime | None:
        """The first due time of ``spec`` strictly after ``after`` (an aware datetime), in ``after``'s zone."""
        known = self._known.get(spec)
        if known is not None:
            asked, due = known
            if due is None:
                return None
            if asked <= after < due:
                return due.astimezone(after.tzinfo)
        self.computed += 1
        due = next_fire_time(spec, after)
        self._known.put(spec, (after, due))
        return due


class ScheduleDescriptions:
    """``describe(spec)`` once per schedule (``ScheduleError`` is not remembered)."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._known: Bounded[ScheduleSpec, str] = Bounded(size)

    def __call__(self, spec: ScheduleSpec) -> str:
        """What ``describe(spec)`` says."""
        text = self._known.get(spec)
        if text is None:
            text = describe(spec)
            self._known.put(spec, text)
        return text


class IngestionConfigs:
    """A ``read.ingestions`` row's ``config`` as an :class:`IngestionConfig`, converted once per version.

    The projector changes a row's config only together with its ``version`` (every event of the
    aggregate bumps it), so ``(tenant_id, id, version)`` names one config; the struct is frozen.
    """

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._known: Bounded[tuple[Any, Any, Any], IngestionConfig] = Bounded(size)

    def __call__(self, row: Mapping[str, Any]) -> IngestionConfig:
        """The row's configuration."""
        key = (row.get("tenant_id"), row.get("id"), row.get("version"))
        if None in key:
            return msgspec.convert(row["config"], IngestionConfig)
        config = self._known.get(key)
        if config is None:
            config = msgspec.convert(row["config"], IngestionConfig)
            self._known.put(key, config)
        return config


ingestion_config = IngestionConfigs()
"""The process's memo of converted ingestion configurations."""

next_run_time = NextFireTimes()
"""The process's memo of next run times (the API is one process)."""

schedule_description = ScheduleDescriptions()
"""The process's memo of schedule descriptions."""
