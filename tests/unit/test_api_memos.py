"""The API's per-process memos of next run times and schedule descriptions, and the DST rule they rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import msgspec
import pytest

from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.costing import CostEstimator, RunSize
from autoloader_api.memos import IngestionConfigs, NextFireTimes, ScheduleDescriptions
from autoloader_api.queries import ReadModels, RunNumbers
from autoloader_api.tenants import Caller
from autoloader_contracts.cluster import ClusterPricing
from autoloader_contracts.cost import RunSample
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, ScheduleSpec, SourceSpec
from autoloader_contracts.schedule import ScheduleError, describe, next_fire_time
from autoloader_core.clock import FakeClock

SPECS = [
    ScheduleSpec(frequency="hourly", time="00:30", timezone="Europe/Berlin"),
    ScheduleSpec(frequency="hourly", time="00:00", timezone="America/New_York"),
    ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Berlin"),
    ScheduleSpec(frequency="daily", time="01:30", timezone="America/New_York"),
    ScheduleSpec(frequency="weekly", time="02:15", day_of_week="sunday", timezone="Europe/Berlin"),
    ScheduleSpec(frequency="cron", cron_expression="*/20 * * * *", timezone="Europe/Berlin"),
    ScheduleSpec(frequency="cron", cron_expression="15 2 * * *", timezone="Australia/Lord_Howe"),  # 30-minute shift
    ScheduleSpec(frequency="daily", time="02:30", timezone="UTC"),
]
# Around the spring-forward and fall-back nights of 2026 in Europe, the US and Lord Howe Island.
TRANSITIONS = [
    datetime(2026, 3, 28, 20, tzinfo=UTC),
    datetime(2026, 10, 24, 20, tzinfo=UTC),
    datetime(2026, 3, 7, 20, tzinfo=UTC),
    datetime(2026, 10, 31, 20, tzinfo=UTC),
    datetime(2026, 4, 4, 10, tzinfo=UTC),
    datetime(2026, 10, 3, 10, tzinfo=UTC),
]


def _minutes(start: datetime, hours: int, step: int = 5) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(0, hours * 60, step)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.frequency}-{s.time or s.cron_expression}-{s.timezone}")
def test_next_fire_time_is_the_first_of_one_fixed_set_of_due_times_across_dst(spec: ScheduleSpec) -> None:
    # What the memo relies on: once `due` is the answer for `asked`, it is the answer until `due`.
    for start in TRANSITIONS:
        asked, due = start, next_fire_time(spec, start)
        for moment in _minutes(start, 30):
            answer = next_fire_time(spec, moment)
            assert answer is not None
            assert answer > moment
            if moment < due:  # type: ignore[operator]
                assert answer == due, (spec, asked, due, moment, answer)
            else:
                asked, due = moment, answer


def test_a_daily_time_in_the_spring_forward_gap_is_next_also_when_asked_inside_the_gap() -> None:
    # Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:30 is due at 03:30 CEST (01:30 UTC),
    # "that many minutes after the gap began". Asked at 03:10 CEST (01:10 UTC) it used to answer the next day.
    spec = ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    due = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)

    assert next_fire_time(spec, datetime(2026, 3, 28, 20, tzinfo=UTC)) == due
    assert next_fire_time(spec, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == due
    assert next_fire_time(spec, datetime(2026, 3, 29, 1, 10, tzinfo=UTC)) == due
    assert next_fire_time(spec, due) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    # The repeated hour in October fires once, on its first occurrence (unchanged).
    october = next_fire_time(spec, datetime(2026, 10, 24, 20, tzinfo=UTC))
    assert october == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_fire_time(spec, october) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.frequency}-{s.time or s.cron_expression}-{s.timezone}")
def test_the_memo_answers_what_next_fire_time_answers_every_few_minutes(spec: ScheduleSpec) -> None:
    memo = NextFireTimes()
    for start in TRANSITIONS:
        for moment in _minutes(start, 30, step=7):
            assert memo(spec, moment) == next_fire_time(spec, moment), (spec, moment)


def test_the_memo_computes_once_per_due_time_not_per_request() -> None:
    memo = NextFireTimes()
    hourly = ScheduleSpec(frequency="hourly", time="00:15", timezone="Europe/Paris")
    start = datetime(2026, 6, 1, 10, 20, tzinfo=UTC)

    answers = {memo(hourly, start + timedelta(seconds=s)) for s in range(0, 3600, 10)}  # 360 requests in an hour

    assert answers == {datetime(2026, 6, 1, 11, 15, tzinfo=UTC), datetime(2026, 6, 1, 12, 15, tzinfo=UTC)}
    assert memo.computed == 2


def test_the_memo_keeps_the_callers_zone_remembers_manual_schedules_and_never_caches_errors() -> None:
    memo = NextFireTimes()
    daily = ScheduleSpec(frequency="daily", time="02:00", timezone="UTC")
    plus_two = datetime(2026, 6, 1, 12, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    first = memo(daily, datetime(2026, 6, 1, 12, tzinfo=UTC))
    again = memo(daily, plus_two + timedelta(minutes=1))
    assert first == again
    assert again is not None
    assert again.tzinfo == plus_two.tzinfo

    manual = ScheduleSpec(frequency="manual")
    assert memo(manual, datetime(2026, 6, 1, tzinfo=UTC)) is None
    assert memo(manual, datetime(2027, 6, 1, tzinfo=UTC)) is None
    assert memo.computed == 2

    broken = ScheduleSpec(frequency="daily", time="25:00", timezone="UTC")
    for _ in range(2):
        with pytest.raises(ScheduleError):
            memo(broken, datetime(2026, 6, 1, tzinfo=UTC))
    assert memo.computed == 4


def test_the_memo_is_bounded_and_asking_in_the_past_recomputes() -> None:
    memo = NextFireTimes(size=3)
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    specs = [ScheduleSpec(frequency="hourly", time=f"00:{m:02d}", timezone="UTC") for m in range(5)]
    for spec in specs:
        memo(spec, at)
    assert len(memo._known) == 3
    assert memo(specs[0], at) == next_fire_time(specs[0], at)  # evicted: computed again, same answer
    assert memo(specs[1], at - timedelta(days=1)) == next_fire_time(specs[1], at - timedelta(days=1))


def test_schedule_descriptions_are_described_once_and_errors_are_raised_each_time() -> None:
    words = ScheduleDescriptions()
    spec = ScheduleSpec(frequency="cron", cron_expression="0 */2 * * 1-5", timezone="Europe/Berlin")

    assert words(spec) == describe(spec)
    assert words(spec) == describe(spec)
    assert len(words._known) == 1
    with pytest.raises(ScheduleError):
        words(ScheduleSpec(frequency="cron", cron_expression="nope", timezone="UTC"))
    assert len(words._known) == 1


# --- monthly totals of a page (CostEstimator.monthly) ------------------------------------------------


class _Reads:
    """The history read ``CostEstimator.monthly`` makes, from fixed numbers."""

    def __init__(self, samples: list[RunSample]) -> None:
        self.samples = samples

    async def cost_histories(
        self, tenant_id: str, ids: list[str], *, limit: int
    ) -> dict[str, tuple[dict[str, float], RunNumbers]]:
        numbers = tuple((s.bytes_read, s.duration_seconds, s.spark_seconds, s.batches) for s in self.samples)
        return {i: ({"bytes": 5e8, "files": 40.0, "listed": 400.0}, numbers) for i in ids}


class _Clusters:
    async def costs_of(self, caller: Caller, cluster_id: str | None) -> tuple[str, ClusterPricing, str]:
        return "spark_connect", ClusterPricing(nodes=2, units_per_node_hour=1.5, price_per_unit=0.4), "staged"


def _estimator(clock: FakeClock, samples: list[RunSample]) -> CostEstimator:
    return CostEstimator(
        clusters=cast(ClusterCommands, _Clusters()),
        reads=cast(ReadModels, _Reads(samples)),
        clock=clock,
        batch_max_files=100,
        batch_max_bytes=512 * 1024 * 1024,
    )


def _row(ingestion_id: str, schedule: ScheduleSpec) -> dict[str, Any]:
    config = IngestionConfig(
        name=ingestion_id,
        source=SourceSpec(type="s3", path="s3://landing/orders", file_pattern="**/*.csv"),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="sales", table="orders"),
        schedule=schedule,
        cluster_id="clu_spark",
    )
    return {"id": ingestion_id, "config": msgspec.to_builtins(config)}


async def test_monthly_totals_are_remembered_per_inputs_and_month_and_equal_a_fresh_estimate() -> None:
    samples = [
        RunSample(bytes_read=400_000_000 + n, duration_seconds=30.0 + n, spark_seconds=20.0, batches=1)
        for n in range(20)
    ]
    # The last day of February in Europe/Berlin ends at 23:00 UTC: the month changes inside the quarter hours below.
    clock = FakeClock(datetime(2027, 2, 28, 22, 50, tzinfo=UTC))
    estimator = _estimator(clock, samples)
    caller = Caller(tenant_id="tnt_1", key_id="key_1")
    berlin = ScheduleSpec(frequency="hourly", time="00:15", timezone="Europe/Berlin")
    rows = [_row("ing_a", berlin), _row("ing_b", berlin), _row("ing_c", ScheduleSpec(frequency="daily", time="02:00"))]

    def fresh(row: dict[str, Any]) -> float:
        config = msgspec.convert(row["config"], IngestionConfig)
        cluster = ("spark_connect", ClusterPricing(nodes=2, units_per_node_hour=1.5, price_per_unit=0.4), "staged")
        size = RunSize(bytes=500_000_000, files=40, listed=400)
        return estimator._estimate(config, size, cluster, samples, runs_per_month=None).total_monthly

    february = await estimator.monthly(caller, rows)
    assert february == {row["id"]: fresh(row) for row in rows}
    assert len(estimator._monthly_totals) == 2  # ing_a and ing_b have the same inputs

    assert await estimator.monthly(caller, rows) == february
    assert len(estimator._monthly_totals) == 2

    clock.advance(timedelta(minutes=15))  # 23:05 UTC: March in Berlin, still February in UTC
    march = await estimator.monthly(caller, rows)
    assert march == {row["id"]: fresh(row) for row in rows}
    assert march["ing_a"] != february["ing_a"]  # 31 days of hourly runs, not 28
    assert march["ing_c"] == february["ing_c"]

    estimator._reads.samples = samples[:5]  # type: ignore[attr-defined]  # new history: computed again
    assert len(estimator._monthly_totals) == 4
    await estimator.monthly(caller, rows)
    assert len(estimator._monthly_totals) == 6


def test_a_rows_config_is_converted_once_per_version() -> None:
    configs = IngestionConfigs()
    row = _row("ing_a", ScheduleSpec(frequency="daily", time="02:00")) | {"tenant_id": "tnt_1", "version": 3}

    first = configs(row)
    assert first == msgspec.convert(row["config"], IngestionConfig)
    assert configs(dict(row)) is first
    renamed = row | {"config": row["config"] | {"name": "renamed"}, "version": 4}
    assert configs(renamed).name == "renamed"
    assert configs(row | {"tenant_id": "tnt_2", "config": renamed["config"]}).name == "renamed"  # another key
    assert configs({"config": row["config"]}) == first  # without the key fields: converted, not remembered
