"""The scheduler's pure state machine: which ticks are due when, on plain datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
from autoloader_contracts.ingestion import (
    DestinationSpec,
    FormatSpec,
    IngestionConfig,
    ScheduleSpec,
    SourceSpec,
)
from autoloader_core.ids import deterministic_id
from autoloader_scheduler.domain import Schedules, Tick, run_requested, scheduled_run_id

pytestmark = pytest.mark.unit

TENANT = "tnt_test"
ING = "ing_one"
EVERY_MINUTE = ScheduleSpec(frequency="cron", cron_expression="* * * * *")


def at(text: str) -> datetime:
    """A UTC moment from ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config(schedule: ScheduleSpec) -> IngestionConfig:
    return IngestionConfig(
        name="orders",
        source=SourceSpec(type="local", path="/data/in", file_pattern="*.csv"),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="raw", table="orders"),
        schedule=schedule,
    )


def envelope(when: datetime, aggregate_id: str = ING) -> dict[str, object]:
    return {"event_id": f"evt_{when.timestamp():.0f}_{aggregate_id}", "occurred_at": when,
            "tenant_id": TENANT, "aggregate_id": aggregate_id, "actor": "key:test",
            "correlation_id": "cor_test"}


def created(when: datetime, schedule: ScheduleSpec, *, status: str = "active", ingestion: str = ING) -> Event:
    return IngestionCreated(**envelope(when, ingestion), config=config(schedule), status=status)  # type: ignore[arg-type]


def requested(ingestion: str, due: datetime, *, trigger: str = "scheduled") -> RunRequested:
    run_id = scheduled_run_id(ingestion, due)
    return RunRequested(**envelope(due, run_id), ingestion_id=ingestion, trigger=trigger,  # type: ignore[arg-type]
                        scheduled_for=due if trigger == "scheduled" else None)


def drive(schedules: Schedules, until: datetime) -> list[datetime]:
    """Run the schedules like the timer does (sleep to the next due time, fire, repeat) up to ``until``."""
    fired: list[datetime] = []
    while (wake := schedules.next_due()) is not None and wake <= until:
        ticks = schedules.due(wake)
        assert ticks, f"next_due {wake} promised a tick that due() does not return"
        for tick in ticks:
            schedules.mark_requested(tick)
            fired.append(tick.due)
    return fired


def schedules_of(*events: Event) -> Schedules:
    schedules = Schedules()
    for event in events:
        schedules.apply(event)
    return schedules


# --- presets, cron, timezones ----------------------------------------------------------------


def test_hourly_preset_fires_at_the_given_minute_of_every_hour() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:05"), ScheduleSpec(frequency="hourly", time=":15")))
    assert schedules.due(at("2024-05-01 10:14:59")) == []
    assert schedules.next_due() == at("2024-05-01 10:15")
    assert drive(schedules, at("2024-05-01 13:00")) == [
        at("2024-05-01 10:15"), at("2024-05-01 11:15"), at("2024-05-01 12:15")]


def test_daily_preset_is_read_in_the_schedule_timezone() -> None:
    daily = ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    schedules = schedules_of(created(at("2024-07-01 12:00"), daily))
    # 02:30 in Berlin summer time (UTC+2) is 00:30 UTC.
    assert drive(schedules, at("2024-07-04 00:00")) == [
        at("2024-07-02 00:30"), at("2024-07-03 00:30")]


def test_weekly_preset_fires_on_its_day_only() -> None:
    weekly = ScheduleSpec(frequency="weekly", time="08:00", day_of_week="monday")
    schedules = schedules_of(created(at("2024-05-01 00:00"), weekly))  # a Wednesday
    assert drive(schedules, at("2024-05-21 00:00")) == [at("2024-05-06 08:00"), at("2024-05-13 08:00"),
                                                         at("2024-05-20 08:00")]


def test_five_field_cron_fires_at_each_match() -> None:
    every_quarter = ScheduleSpec(frequency="cron", cron_expression="*/15 9-10 * * *")
    schedules = schedules_of(created(at("2024-05-01 09:20"), every_quarter))
    assert drive(schedules, at("2024-05-02 09:00")) == [
        at("2024-05-01 09:30"), at("2024-05-01 09:45"), at("2024-05-01 10:00"), at("2024-05-01 10:15"),
        at("2024-05-01 10:30"), at("2024-05-01 10:45"), at("2024-05-02 09:00")]


def test_daily_schedule_keeps_local_time_across_a_dst_change() -> None:
    # New York springs forward on 2024-03-10: 09:00 local moves from 14:00 UTC to 13:00 UTC.
    daily = ScheduleSpec(frequency="daily", time="09:00", timezone="America/New_York")
    schedules = schedules_of(created(at("2024-03-08 12:00"), daily))
    assert drive(schedules, at("2024-03-11 23:00")) == [
        at("2024-03-08 14:00"), at("2024-03-09 14:00"), at("2024-03-10 13:00"), at("2024-03-11 13:00")]


def test_a_local_time_skipped_by_dst_still_fires_once_that_day() -> None:
    # 02:30 does not exist in Berlin on 2024-03-31 (02:00 -> 03:00): it runs once, at 03:30 CEST.
    daily = ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    schedules = schedules_of(created(at("2024-03-29 12:00"), daily))
    assert drive(schedules, at("2024-04-01 12:00")) == [
        at("2024-03-30 01:30"), at("2024-03-31 01:30"), at("2024-04-01 00:30")]


def test_a_local_time_repeated_by_dst_fires_only_once_that_day() -> None:
    # 02:30 happens twice in Berlin on 2024-10-27 (03:00 CEST -> 02:00 CET): one run, the first.
    daily = ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    schedules = schedules_of(created(at("2024-10-25 12:00"), daily))
    assert drive(schedules, at("2024-10-28 12:00")) == [
        at("2024-10-26 00:30"), at("2024-10-27 00:30"), at("2024-10-28 01:30")]


# --- lifecycle -------------------------------------------------------------------------------


def test_only_active_ingestions_with_a_schedule_are_scheduled() -> None:
    schedules = schedules_of(
        created(at("2024-05-01 10:00"), EVERY_MINUTE, status="draft", ingestion="ing_draft"),
        created(at("2024-05-01 10:00"), ScheduleSpec(frequency="manual"), ingestion="ing_manual"),
    )
    assert schedules.due(at("2024-05-01 12:00")) == []
    assert schedules.next_due() is None
    assert not schedules.is_scheduled("ing_draft")
    assert not schedules.is_scheduled("ing_manual")


def test_activation_schedules_from_the_activation_time() -> None:
    schedules = schedules_of(
        created(at("2024-05-01 10:00"), EVERY_MINUTE, status="draft"),
        IngestionActivated(**envelope(at("2024-05-01 11:00:30"))),  # type: ignore[arg-type]
    )
    assert schedules.due(at("2024-05-01 11:00:40")) == []
    assert drive(schedules, at("2024-05-01 11:02")) == [at("2024-05-01 11:01"), at("2024-05-01 11:02")]


def test_pause_stops_ticks() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE))
    assert drive(schedules, at("2024-05-01 10:02")) == [at("2024-05-01 10:01"), at("2024-05-01 10:02")]
    assert schedules.apply(IngestionPaused(**envelope(at("2024-05-01 10:02:30"))))  # type: ignore[arg-type]
    assert schedules.due(at("2024-05-01 11:00")) == []
    assert schedules.next_due() is None
    assert not schedules.is_scheduled(ING)


def test_resume_continues_from_the_next_tick_without_catching_up() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE))
    drive(schedules, at("2024-05-01 10:02"))
    schedules.apply(IngestionPaused(**envelope(at("2024-05-01 10:02:30"))))  # type: ignore[arg-type]
    schedules.apply(IngestionResumed(**envelope(at("2024-05-01 10:30:30"))))  # type: ignore[arg-type]
    # 28 ticks were missed while paused: none of them is owed.
    assert schedules.due(at("2024-05-01 10:30:30")) == []
    assert schedules.next_due() == at("2024-05-01 10:31")
    assert drive(schedules, at("2024-05-01 10:32")) == [at("2024-05-01 10:31"), at("2024-05-01 10:32")]


def test_delete_stops_ticks_for_good() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE))
    schedules.apply(IngestionDeleted(**envelope(at("2024-05-01 10:01:30"))))  # type: ignore[arg-type]
    assert schedules.due(at("2024-05-01 10:05")) == []
    assert schedules.next_due() is None
    # Later events of the deleted ingestion change nothing.
    assert not schedules.apply(IngestionResumed(**envelope(at("2024-05-01 10:06"))))  # type: ignore[arg-type]
    assert schedules.due(at("2024-05-01 10:10")) == []


def test_schedule_update_applies_from_the_update_on() -> None:
    hourly = ScheduleSpec(frequency="hourly", time=":00")
    schedules = schedules_of(created(at("2024-05-01 09:30"), hourly))
    assert drive(schedules, at("2024-05-01 10:00")) == [at("2024-05-01 10:00")]
    update = IngestionUpdated(**envelope(at("2024-05-01 10:20:30")), config=config(EVERY_MINUTE),  # type: ignore[arg-type]
                              changed=["schedule"])
    assert schedules.apply(update)
    # No catch-up of the minutes between the last hourly tick and the update.
    assert schedules.due(at("2024-05-01 10:20:40")) == []
    assert drive(schedules, at("2024-05-01 10:22")) == [at("2024-05-01 10:21"), at("2024-05-01 10:22")]


def test_update_without_schedule_change_keeps_the_timeline() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE))
    renamed = IngestionUpdated(**envelope(at("2024-05-01 10:05:30")), config=config(EVERY_MINUTE),  # type: ignore[arg-type]
                               changed=["quality"])
    assert not schedules.apply(renamed)
    assert len(schedules.due(at("2024-05-01 10:05:30"))) == 1


# --- catch-up and coordination ---------------------------------------------------------------


def test_many_missed_ticks_coalesce_into_one_catch_up_run() -> None:
    # Replayed at start: active since midnight, last scheduled run at 00:10, scheduler down since.
    schedules = schedules_of(created(at("2024-05-01 00:00:30"), EVERY_MINUTE),
                             requested(ING, at("2024-05-01 00:10")))
    now = at("2024-05-01 05:00:20")
    ticks = schedules.due(now)
    assert [t.due for t in ticks] == [at("2024-05-01 05:00")]
    for tick in ticks:
        schedules.mark_requested(tick)
    assert schedules.due(now) == []
    assert schedules.next_due() == at("2024-05-01 05:01")


def test_no_catch_up_when_the_latest_tick_was_already_requested() -> None:
    schedules = schedules_of(created(at("2024-05-01 00:00:30"), EVERY_MINUTE),
                             requested(ING, at("2024-05-01 05:00")))
    assert schedules.due(at("2024-05-01 05:00:50")) == []
    assert schedules.next_due() == at("2024-05-01 05:01")


def test_no_catch_up_for_a_tick_before_the_activation() -> None:
    schedules = schedules_of(created(at("2024-05-01 04:59:30"), EVERY_MINUTE))
    assert schedules.due(at("2024-05-01 04:59:50")) == []


def test_a_tick_requested_by_another_instance_is_not_fired_again() -> None:
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE))
    assert schedules.apply(requested(ING, at("2024-05-01 10:01")))
    assert schedules.due(at("2024-05-01 10:01:10")) == []
    # An older one arriving late changes nothing; manual runs do not count as ticks.
    assert not schedules.apply(requested(ING, at("2024-05-01 10:00")))
    assert not schedules.apply(requested(ING, at("2024-05-01 10:05"), trigger="manual"))
    assert [t.due for t in schedules.due(at("2024-05-01 10:02:10"))] == [at("2024-05-01 10:02")]


def test_a_live_change_counts_from_when_the_scheduler_saw_it() -> None:
    # A sped-up clock is ahead of the writer's: the resume must not owe the ticks it already passed.
    schedules = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE, status="draft"))
    schedules.apply(IngestionActivated(**envelope(at("2024-05-01 10:00:40"))),  # type: ignore[arg-type]
                    observed_at=at("2024-05-01 10:07:10"))
    assert schedules.due(at("2024-05-01 10:07:20")) == []
    assert schedules.next_due() == at("2024-05-01 10:08")


def test_run_ids_are_deterministic_per_ingestion_and_due_time() -> None:
    due = at("2024-05-01 10:01")
    first = schedules_of(created(at("2024-05-01 10:00:30"), EVERY_MINUTE)).due(at("2024-05-01 10:01:05"))
    second = schedules_of(created(at("2024-05-01 10:00:10"), EVERY_MINUTE)).due(at("2024-05-01 10:01:40"))
    assert first == second == [Tick(tenant_id=TENANT, ingestion_id=ING, due=due)]
    tick = first[0]
    assert tick.run_id == deterministic_id("run", ING, due.isoformat())
    assert tick.run_id != Tick(TENANT, ING, due + timedelta(minutes=1)).run_id
    assert tick.run_id != Tick(TENANT, "ing_two", due).run_id
    event = run_requested(tick, at("2024-05-01 10:01:05"))
    assert event.aggregate_id == event.correlation_id == tick.run_id
    assert event.event_id == deterministic_id("evt", tick.run_id, "requested")
    assert (event.trigger, event.scheduled_for, event.ingestion_id) == ("scheduled", due, ING)
    assert event.actor == "service:scheduler"
    assert run_requested(tick, at("2024-05-01 10:01:50")).event_id == event.event_id


def test_a_bad_schedule_is_set_aside_and_others_still_fire() -> None:
    never = ScheduleSpec(frequency="cron", cron_expression="0 0 31 2 *")  # valid syntax, no such day
    no_zone = ScheduleSpec(frequency="daily", time="02:00", timezone="Mars/Olympus")
    schedules = schedules_of(
        created(at("2024-05-01 10:00:30"), never, ingestion="ing_never"),
        created(at("2024-05-01 10:00:30"), no_zone, ingestion="ing_nozone"),
        created(at("2024-05-01 10:00:30"), EVERY_MINUTE),
    )
    assert [(t.ingestion_id, t.due) for t in schedules.due(at("2024-05-01 10:01:10"))] == [
        (ING, at("2024-05-01 10:01"))]
    assert schedules.next_due() == at("2024-05-01 10:01")
    errors = schedules.errors()
    assert set(errors) == {"ing_never", "ing_nozone"}
    assert "Mars/Olympus" in errors["ing_nozone"]
    assert "never fires" in errors["ing_never"]
    assert not schedules.is_scheduled("ing_never")
