"""Schedules: presets and 5-field cron read in an IANA timezone.

Shared by the API (validation, ``next_run_time``) and the scheduler (firing).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options
from croniter import croniter

from autoloader_contracts.ingestion import ScheduleSpec

FREQUENCIES = ("manual", "hourly", "daily", "weekly", "cron")
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_TIME = re.compile(r"^(?:(?P<h>[01]?\d|2[0-3]))?:(?P<m>[0-5]\d)$")


class ScheduleError(ValueError):
    """A schedule is invalid; ``field`` names the offending field of ``schedule``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def cron_of(spec: ScheduleSpec) -> str | None:
    """Return the 5-field cron equivalent of ``spec`` (``None`` for manual).

    Raises:
        ScheduleError: The spec is invalid (message says how to fix it).
    """
    if spec.frequency not in FREQUENCIES:
        raise ScheduleError(
            "frequency", f"unknown frequency {spec.frequency!r}; use one of {', '.join(FREQUENCIES)}"
        )
    timezone(spec)
    if spec.frequency == "manual":
        return None
    if spec.frequency == "cron":
        return _checked_cron(spec.cron_expression)
    hour, minute = _parse_time(spec)
    if spec.frequency == "hourly":
        return f"{minute} * * * *"
    if spec.frequency == "daily":
        return f"{minute} {hour} * * *"
    return f"{minute} {hour} * * {_day_index(spec.day_of_week)}"


def timezone(spec: ScheduleSpec) -> ZoneInfo:
    """Return the schedule's timezone.

    Raises:
        ScheduleError: The name is not an IANA timezone.
    """
    try:
        return ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "timezone",
            f"unknown timezone {spec.timezone!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'",
        ) from None


def next_fire_time(spec: ScheduleSpec, after: datetime) -> datetime | None:
    """Return the first due time strictly after ``after`` (UTC), or ``None`` for manual schedules.

    Cron is matched against local wall-clock time, each wall-clock time at most once: when the clocks
    go back, a time in the repeated hour fires on its first occurrence only; when they go forward, a
    time in the skipped hour fires once, that many minutes after the gap began.
    """
    expression = cron_of(spec)
    if expression is None:
        return None
    zone = timezone(spec)
    shift = _offset_change_near(after, zone)
    if not shift:  # wall-clock order is instant order: the first wall time past ``after`` is the answer
        candidates = croniter(expression, _wall_clock(after, zone))
        while True:
            due = _instant(candidates.get_next(datetime), zone, after.tzinfo)
            if due > after:
                return due
    # Near a change of UTC offset, wall-clock order is not instant order: a skipped wall time (read
    # with the offset before the gap) lands after the first wall times past the gap. Starting from
    # ``after``'s own wall clock would miss it (e.g. 02:30 in Berlin on the spring-forward day, asked
    # at 03:10 CEST: it is due at 03:30 CEST). So walk from ``shift`` earlier and keep the earliest
    # instant after ``after``, until wall times are ``shift`` past the best one (none later can beat it).
    candidates = croniter(expression, _wall_clock(after - shift, zone))
    best: datetime | None = None
    while True:
        wall = candidates.get_next(datetime)
        if best is not None and wall > _wall_clock(best, zone) + shift:
            return best
        due = _instant(wall, zone, after.tzinfo)
        if due > after and (best is None or due < best):
            best = due


def previous_fire_time(spec: ScheduleSpec, before: datetime) -> datetime | None:
    """Return the last due time at or before ``before`` (UTC), or ``None`` for manual schedules."""
    expression = cron_of(spec)
    if expression is None:
        return None
    zone = timezone(spec)
    start = _wall_clock(before, zone) + timedelta(microseconds=1)  # get_prev is strict: include `before`
    candidates = croniter(expression, start)
    while True:
        due = _instant(candidates.get_prev(datetime), zone, before.tzinfo)
        if due <= before:
            return due


def upcoming_fire_times(spec: ScheduleSpec, after: datetime, count: int = 5) -> list[datetime]:
    """Return the next ``count`` due times strictly after ``after`` (empty for manual schedules).

    Raises:
        ScheduleError: The spec is invalid.
    """
    times: list[datetime] = []
    moment = after
    while len(times) < count and (due := next_fire_time(spec, moment)) is not None:
        times.append(due)
        moment = due
    return times


def describe(spec: ScheduleSpec) -> str:
    """Say in words when ``spec`` fires, e.g. "Every day at 02:00 (Europe/Berlin)".

    Raises:
        ScheduleError: The spec is invalid.
    """
    expression = cron_of(spec)
    if expression is None:
        return "Manually only (Run now or the API)"
    zone = f" ({spec.timezone})"
    if spec.frequency == "hourly":
        minute = int(expression.split()[0])
        return f"Every hour at {minute:02d} minutes past{zone}"
    if spec.frequency in ("daily", "weekly"):
        hour, minute = _parse_time(spec)
        days = "day" if spec.frequency == "daily" else str(spec.day_of_week).capitalize()
        return f"Every {days} at {hour:02d}:{minute:02d}{zone}"
    return f"{_cron_in_words(expression)}{zone}"


def _cron_in_words(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    return str(ExpressionDescriptor(expression, options).get_description())


def _offset_change_near(moment: datetime, zone: ZoneInfo) -> timedelta:
    """How far the zone's UTC offset moves within a day of ``moment`` (zero almost always)."""
    offsets = [(moment + timedelta(days=d)).astimezone(zone).utcoffset() or timedelta(0) for d in (-1, 0, 1)]
    return max(offsets) - min(offsets)


def _wall_clock(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo, tz: tzinfo | None) -> datetime:
    # fold=0: the first occurrence of a repeated wall time; a skipped one maps past the gap.
    return wall.replace(tzinfo=zone, fold=0).astimezone(tz)


def _checked_cron(expression: str | None) -> str:
    if not expression:
        raise ScheduleError("cron_expression", "frequency 'cron' needs cron_expression, e.g. '0 2 * * *'")
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            "cron_expression",
            f"cron_expression must have 5 fields (minute hour day month weekday), got {len(fields)}: {expression!r}",
        )
    if not croniter.is_valid(expression):
        raise ScheduleError("cron_expression", f"invalid cron_expression {expression!r}")
    return " ".join(fields)


def _parse_time(spec: ScheduleSpec) -> tuple[int, int]:
    raw = spec.time or ("00:00" if spec.frequency == "hourly" else None)
    if raw is None:
        raise ScheduleError("time", f"frequency {spec.frequency!r} needs time as 'HH:MM' (24-hour clock)")
    match = _TIME.match(raw.strip())
    if not match or (spec.frequency != "hourly" and match.group("h") is None):
        raise ScheduleError("time", f"time {raw!r} must be 'HH:MM' (24-hour clock), e.g. '02:30'")
    return int(match.group("h") or 0), int(match.group("m"))


def _day_index(day: str | None) -> int:
    if day is None or day.lower() not in DAYS:
        raise ScheduleError("day_of_week", f"weekly schedules need day_of_week, one of {', '.join(DAYS)}")
    return DAYS.index(day.lower())
