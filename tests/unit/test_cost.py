"""The cost model (autoloader_contracts.cost): every expectation is written out as its arithmetic."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from autoloader_contracts import cost
from autoloader_contracts.cluster import ClusterPricing
from autoloader_contracts.cost import (
    DEFAULT_RATES,
    CostEstimate,
    CostInputs,
    CostRates,
    RunSample,
    actual_run_cost,
    estimate_accuracy,
    estimate_cost,
    runs_per_month,
)
from autoloader_contracts.ingestion import ScheduleSpec
from autoloader_contracts.schedule import ScheduleError, next_fire_time

pytestmark = pytest.mark.unit

BERLIN = "Europe/Berlin"
MARCH_2027 = datetime(2027, 3, 15, 12, tzinfo=UTC)  # Berlin springs forward 02:00 -> 03:00 on 28 March
OCTOBER_2027 = datetime(2027, 10, 15, 12, tzinfo=UTC)  # Berlin falls back 03:00 -> 02:00 on 31 October
PRICED = ClusterPricing(nodes=4, units_per_node_hour=2.5, price_per_unit=0.1, currency="EUR")  # 1.0 EUR/hour
HOURLY = 4 * 2.5 * 0.1
DAILY = ScheduleSpec(frequency="daily", time="02:30", timezone=BERLIN)


def inputs(**changes: object) -> CostInputs:
    """A daily CSV ingestion from S3 on the priced embedded cluster: 10 MB, 4 files, 2 batches a run."""
    base = CostInputs(
        schedule=DAILY,
        source_type="s3",
        format_type="csv",
        cluster_kind="embedded",
        pricing=PRICED,
        bytes_per_run=10_000_000,
        files_per_run=4,
        keys_listed_per_run=2_500,
        batches_per_run=2,
    )
    return msgspec.structs.replace(base, **changes)


# Runs per month: real cron occurrences in the schedule's timezone


def test_hourly_daily_weekly_in_berlin_across_the_spring_forward() -> None:
    hourly = ScheduleSpec(frequency="hourly", time=":15", timezone=BERLIN)
    weekly = ScheduleSpec(frequency="weekly", time="02:30", day_of_week="sunday", timezone=BERLIN)
    assert runs_per_month(hourly, MARCH_2027) == 31 * 24 - 1  # 02:15 on the 28th is 03:15, once
    assert runs_per_month(DAILY, MARCH_2027) == 31  # the skipped 02:30 fires once after the gap
    assert runs_per_month(weekly, MARCH_2027) == 4  # Sundays 7, 14, 21, 28


def test_the_repeated_hour_of_the_fall_back_fires_once() -> None:
    hourly = ScheduleSpec(frequency="hourly", time=":15", timezone=BERLIN)
    assert runs_per_month(hourly, OCTOBER_2027) == 31 * 24
    assert runs_per_month(DAILY, OCTOBER_2027) == 31


def test_every_quarter_hour_in_utc_in_february() -> None:
    spec = ScheduleSpec(frequency="cron", cron_expression="*/15 * * * *", timezone="UTC")
    assert runs_per_month(spec, datetime(2027, 2, 10, tzinfo=UTC)) == 28 * 96


def test_the_month_is_the_one_of_the_schedules_timezone() -> None:
    just_before_march_in_utc = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)  # 00:30 on 1 March in Berlin
    hourly = ScheduleSpec(frequency="hourly", time=":15", timezone=BERLIN)
    assert runs_per_month(hourly, just_before_march_in_utc) == 31 * 24 - 1
    assert runs_per_month(msgspec.structs.replace(hourly, timezone="UTC"), just_before_march_in_utc) == 28 * 24
    estimate = estimate_cost(inputs(), at=just_before_march_in_utc)
    assert (estimate.assumptions.month, estimate.assumptions.days_in_month) == ("2027-03", 31)


def test_an_occurrence_at_the_first_local_midnight_counts_and_the_next_months_does_not() -> None:
    midnight = ScheduleSpec(frequency="cron", cron_expression="0 0 1 * *", timezone=BERLIN)
    assert runs_per_month(midnight, MARCH_2027) == 1


def test_the_count_is_what_repeated_next_fire_time_calls_give() -> None:
    zone = ZoneInfo(BERLIN)
    for expression in ("0,30 2 * * *", "*/7 1-3 * * *", "30 2,3 * * 0", "45 * * * *"):
        spec = ScheduleSpec(frequency="cron", cron_expression=expression, timezone=BERLIN)
        for month in (3, 10):
            start = datetime(2027, month, 1, tzinfo=zone).astimezone(UTC)
            end = datetime(2027, month + 1, 1, tzinfo=zone).astimezone(UTC)
            due, expected = next_fire_time(spec, start - timedelta(microseconds=1)), 0
            while due is not None and due < end:
                expected, due = expected + 1, next_fire_time(spec, due)
            assert runs_per_month(spec, start) == expected, (expression, month)


def test_custom_is_counted_like_cron() -> None:
    custom = ScheduleSpec(frequency="custom", cron_expression="0 */6 * * *", timezone=BERLIN)
    assert runs_per_month(custom, MARCH_2027) == 31 * 4


def test_the_count_is_memoised_per_expression_timezone_and_month() -> None:
    spec = ScheduleSpec(frequency="cron", cron_expression="7 3 * * *", timezone="Asia/Tokyo")
    runs_per_month(spec, MARCH_2027)
    hits = cost._scheduled_runs.cache_info().hits
    assert runs_per_month(spec, MARCH_2027 + timedelta(days=3)) == 31
    assert cost._scheduled_runs.cache_info().hits == hits + 1


def test_manual_has_no_scheduled_runs_and_an_override_wins() -> None:
    manual = ScheduleSpec(frequency="manual", timezone=BERLIN)
    assert runs_per_month(manual, MARCH_2027) == 0
    assert estimate_cost(inputs(schedule=manual), at=MARCH_2027).compute_monthly == 0.0
    overridden = estimate_cost(inputs(schedule=manual, runs_per_month=10), at=MARCH_2027)
    assert overridden.runs_per_month == 10
    assert overridden.compute_monthly == pytest.approx(
        round((0.2 + 2 * 0.02 + 10_000_000 / 22e6) / 3600 * HOURLY * 10, 6)
    )
    assert estimate_cost(inputs(runs_per_month=3), at=MARCH_2027).runs_per_month == 3  # over a daily schedule


def test_an_invalid_schedule_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError):
        runs_per_month(ScheduleSpec(frequency="cron", cron_expression="61 * * * *"), MARCH_2027)


# Compute: fixed + batches x per-batch + bytes / throughput, at the hourly price


def test_spark_and_embedded_with_the_same_bytes() -> None:
    embedded = estimate_cost(inputs(), at=MARCH_2027)
    spark = estimate_cost(inputs(cluster_kind="spark_connect"), at=MARCH_2027)
    embedded_seconds = 0.2 + 2 * 0.02 + 10_000_000 / 22e6
    spark_seconds = 0.48 + 2 * 0.33 + 10_000_000 / 9e6
    assert embedded.estimated_duration_seconds == round(embedded_seconds, 3)
    assert spark.estimated_duration_seconds == round(spark_seconds, 3)
    assert embedded.compute_per_run == pytest.approx(round(embedded_seconds / 3600 * HOURLY, 6))
    assert spark.compute_per_run == pytest.approx(round(spark_seconds / 3600 * 4 * 2.5 * 0.1, 6))
    assert spark.compute_monthly == pytest.approx(round(spark_seconds / 3600 * HOURLY * 31, 6))
    assert spark.cluster_hours_per_month == pytest.approx(round(spark_seconds * 31 / 3600, 6))
    assert (spark.assumptions.engine, spark.assumptions.throughput_bytes_per_second) == ("spark_connect", 9e6)
    assert spark.currency == "EUR"


def test_a_native_cluster_costs_its_measured_session_and_commit_time() -> None:
    staged = estimate_cost(inputs(cluster_kind="spark_connect"), at=MARCH_2027)
    native = estimate_cost(inputs(cluster_kind="spark_connect", commit_strategy="native"), at=MARCH_2027)
    embedded = estimate_cost(inputs(commit_strategy="native"), at=MARCH_2027)  # no cluster: no strategy

    assert native.estimated_duration_seconds == round(1.6 + 2 * 0.33 + 10_000_000 / 5e6, 3)
    assert native.estimated_duration_seconds > staged.estimated_duration_seconds
    assert (native.assumptions.engine, native.assumptions.fixed_seconds_per_run) == ("spark_connect", 1.6)
    assert embedded.estimated_duration_seconds == estimate_cost(inputs(), at=MARCH_2027).estimated_duration_seconds


@pytest.mark.parametrize(
    ("format_type", "embedded", "spark"),
    [("csv", 22e6, 9e6), ("tsv", 22e6, 9e6), ("json", 38e6, 15e6), ("jsonl", 38e6, 15e6),
     ("parquet", 12e6, 6e6), ("avro", 12e6, 6e6), ("orc", 12e6, 6e6)],
)  # fmt: skip
def test_default_throughput_by_engine_and_format(format_type: str, embedded: float, spark: float) -> None:
    for kind, expected in (("embedded", embedded), ("spark_connect", spark)):
        assumptions = estimate_cost(inputs(format_type=format_type, cluster_kind=kind), at=MARCH_2027).assumptions
        assert (assumptions.throughput_bytes_per_second, assumptions.throughput_source) == (expected, "default")


def test_the_embedded_cluster_is_free_by_default() -> None:
    estimate = estimate_cost(inputs(pricing=ClusterPricing()), at=MARCH_2027)
    assert (estimate.compute_per_run, estimate.compute_monthly, estimate.always_on_monthly) == (0.0, 0.0, 0.0)
    assert estimate.estimated_duration_seconds == round(0.2 + 2 * 0.02 + 10_000_000 / 22e6, 3)
    assert estimate.savings_percent == round(100 * (24 * 31 - estimate.cluster_hours_per_month) / (24 * 31), 2)


def test_a_run_with_bytes_has_at_least_one_batch() -> None:
    estimate = estimate_cost(inputs(batches_per_run=0), at=MARCH_2027)
    assert estimate.estimated_duration_seconds == round(0.2 + 1 * 0.02 + 10_000_000 / 22e6, 3)


# History refines the throughput


def test_history_refines_the_embedded_throughput() -> None:
    history = [
        RunSample(bytes_read=30_000_000, duration_seconds=0.2 + 0.02 + 3.0, batches=1),  # 3.0 s on bytes
        RunSample(bytes_read=0, duration_seconds=0.5, batches=0),  # loaded nothing: left out
        RunSample(bytes_read=10_000_000, duration_seconds=0.2 + 2 * 0.02 + 1.0, batches=2),  # 1.0 s on bytes
    ]
    estimate = estimate_cost(inputs(history=history), at=MARCH_2027)
    throughput = (30_000_000 + 10_000_000) / (3.0 + 1.0)
    assert estimate.assumptions.throughput_source == "history"
    assert estimate.assumptions.history_runs == 2
    assert estimate.assumptions.throughput_bytes_per_second == pytest.approx(throughput)
    assert estimate.estimated_duration_seconds == round(0.2 + 2 * 0.02 + 10_000_000 / throughput, 3)


def test_history_of_a_spark_ingestion_uses_its_spark_seconds() -> None:
    history = [RunSample(bytes_read=18_000_000, duration_seconds=9.0, spark_seconds=2 * 0.33 + 3.0, batches=2)]
    estimate = estimate_cost(inputs(cluster_kind="spark_connect", history=history), at=MARCH_2027)
    assert estimate.assumptions.throughput_bytes_per_second == pytest.approx(18_000_000 / 3.0)
    assert estimate.estimated_duration_seconds == round(0.48 + 2 * 0.33 + 10_000_000 / 6e6, 3)


def test_at_most_the_latest_twenty_runs_count() -> None:
    recent = [RunSample(bytes_read=5_000_000, duration_seconds=0.2 + 0.02 + 1.0, batches=1)] * 20  # 5 MB/s
    older = [RunSample(bytes_read=50_000_000, duration_seconds=0.2 + 0.02 + 1.0, batches=1)] * 5  # 50 MB/s
    assumptions = estimate_cost(inputs(history=recent + older), at=MARCH_2027).assumptions
    assert (assumptions.throughput_bytes_per_second, assumptions.history_runs) == (pytest.approx(5e6), 20)


def test_history_without_loaded_bytes_keeps_the_default() -> None:
    history = [RunSample(bytes_read=0, duration_seconds=0.3, batches=0)]
    assumptions = estimate_cost(inputs(history=history), at=MARCH_2027).assumptions
    assert (assumptions.throughput_source, assumptions.throughput_bytes_per_second) == ("default", 22e6)


# Discovery requests and storage growth


def test_a_run_without_bytes_costs_only_its_listing() -> None:
    estimate = estimate_cost(inputs(bytes_per_run=0, files_per_run=0, batches_per_run=0), at=MARCH_2027)
    assert (estimate.estimated_duration_seconds, estimate.compute_per_run, estimate.storage_monthly) == (0, 0, 0)
    assert estimate.discovery_per_run == pytest.approx(round(math.ceil(2_500 / 1000) / 1000 * 0.005, 6))
    assert estimate.total_monthly == pytest.approx(round(3 / 1000 * 0.005 * 31, 6))


def test_s3_requests_cost_and_local_ones_do_not() -> None:
    s3 = estimate_cost(inputs(files_per_run=1_200), at=MARCH_2027)
    local = estimate_cost(inputs(source_type="local", files_per_run=1_200), at=MARCH_2027)
    per_run = 3 / 1000 * 0.005 + 1_200 / 1000 * 0.0004  # 3 LIST requests for 2,500 keys, 1,200 GETs
    assert s3.discovery_per_run == pytest.approx(round(per_run, 6))
    assert s3.discovery_monthly == pytest.approx(round(per_run * 31, 6))
    assert (local.discovery_per_run, local.discovery_monthly) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("source_type", "per_run"),
    [("azure_blob", 3 / 1000 * 0.00065 + 4 / 1000 * 0.00044), ("gcs", 3 / 1000 * 0.005 + 4 / 1000 * 0.0004),
     ("ftp", 0.0), ("sftp", 0.0)],
)  # fmt: skip
def test_request_rates_by_provider(source_type: str, per_run: float) -> None:
    estimate = estimate_cost(inputs(source_type=source_type), at=MARCH_2027)
    assert estimate.discovery_per_run == pytest.approx(round(per_run, 6))


def test_a_single_request_does_not_round_to_zero() -> None:
    estimate = estimate_cost(inputs(keys_listed_per_run=1, files_per_run=0), at=MARCH_2027)
    assert estimate.discovery_per_run == 0.000005  # 1 LIST request at $0.005 per 1,000


def test_storage_growth_uses_the_output_ratio_and_the_warehouse_price() -> None:
    runs = 31
    csv_s3 = estimate_cost(inputs(bytes_per_run=1_000_000_000), at=MARCH_2027)
    json_gcs = estimate_cost(inputs(bytes_per_run=1_000_000_000, source_type="gcs", format_type="json"), at=MARCH_2027)
    parquet_local = estimate_cost(
        inputs(bytes_per_run=1_000_000_000, source_type="local", format_type="parquet"), at=MARCH_2027
    )
    assert csv_s3.storage_monthly == pytest.approx(round(1e9 * runs * 0.35 / 1e9 * 0.023, 6))
    assert json_gcs.storage_monthly == pytest.approx(round(1e9 * runs * 0.2 / 1e9 * 0.020, 6))
    assert parquet_local.storage_monthly == pytest.approx(round(1e9 * runs * 1.0 / 1e9 * 0.023, 6))  # S3 price
    assert parquet_local.assumptions.rates == CostRates(
        list_per_1000_requests=0.0, get_per_1000_requests=0.0, storage_per_gb_month=0.023
    )


def test_caller_rates_replace_the_defaults() -> None:
    rates = CostRates(list_per_1000_requests=1.0, get_per_1000_requests=2.0, storage_per_gb_month=3.0)
    estimate = estimate_cost(inputs(rates=rates), at=MARCH_2027)
    assert estimate.discovery_per_run == pytest.approx(round(3 / 1000 * 1.0 + 4 / 1000 * 2.0, 6))
    assert estimate.storage_monthly == pytest.approx(round(10_000_000 * 31 * 0.35 / 1e9 * 3.0, 6))
    assert estimate.assumptions.rates == rates


def test_default_rates_are_the_public_list_prices() -> None:
    s3 = DEFAULT_RATES["s3"]
    assert (s3.list_per_1000_requests, s3.get_per_1000_requests, s3.storage_per_gb_month) == (0.005, 0.0004, 0.023)
    assert DEFAULT_RATES["azure_blob"].list_per_1000_requests == pytest.approx(0.0065 / 10)  # $0.0065 per 10,000
    assert DEFAULT_RATES["local"] == CostRates(
        list_per_1000_requests=0, get_per_1000_requests=0, storage_per_gb_month=0
    )


def test_total_is_compute_plus_discovery_plus_storage() -> None:
    e = estimate_cost(inputs(), at=MARCH_2027)
    seconds = 0.2 + 2 * 0.02 + 10_000_000 / 22e6
    compute = seconds / 3600 * HOURLY * 31
    discovery = (3 / 1000 * 0.005 + 4 / 1000 * 0.0004) * 31
    storage = 10_000_000 * 31 * 0.35 / 1e9 * 0.023
    assert e.total_monthly == pytest.approx(round(compute + discovery + storage, 6))
    assert e.total_monthly == pytest.approx(e.compute_monthly + e.discovery_monthly + e.storage_monthly, abs=2e-6)


# The always-on comparison


def test_always_on_is_the_cluster_every_hour_of_the_month() -> None:
    e = estimate_cost(inputs(cluster_kind="spark_connect"), at=MARCH_2027)
    hours = (0.48 + 2 * 0.33 + 10_000_000 / 9e6) * 31 / 3600
    assert e.always_on_cluster_hours == 24 * 31
    assert e.always_on_monthly == pytest.approx(HOURLY * 24 * 31)
    assert e.savings_monthly == pytest.approx(round(HOURLY * 24 * 31 - hours * HOURLY, 6))
    assert e.savings_cluster_hours == pytest.approx(round(24 * 31 - hours, 6))
    assert e.savings_percent == round(100 * (24 * 31 - hours) / (24 * 31), 2)
    february = estimate_cost(inputs(), at=datetime(2027, 2, 1, 12, tzinfo=UTC))
    assert february.always_on_cluster_hours == 24 * 28


def test_a_schedule_busier_than_always_on_shows_negative_savings() -> None:
    every_5_minutes = ScheduleSpec(frequency="cron", cron_expression="*/5 * * * *", timezone="UTC")
    e = estimate_cost(inputs(schedule=every_5_minutes, bytes_per_run=7_000_000_000), at=MARCH_2027)  # ~318 s a run
    assert e.runs_per_month == 31 * 24 * 12
    assert e.savings_monthly < 0
    assert e.savings_percent < 0


def test_the_estimate_encodes_as_plain_json() -> None:
    e = estimate_cost(inputs(), at=MARCH_2027)
    assert msgspec.json.decode(msgspec.json.encode(e), type=CostEstimate) == e
    first_five = list(msgspec.json.decode(msgspec.json.encode(e)))[:5]
    assert first_five == ["compute_per_run", "compute_monthly", "storage_monthly", "discovery_monthly", "total_monthly"]


# Actual cost of a completed run


def test_actual_cost_of_a_spark_run_is_its_spark_time_plus_the_session_start() -> None:
    actual = actual_run_cost(
        source_type="s3", cluster_kind="spark_connect", pricing=PRICED, duration_seconds=20.0,
        spark_seconds=12.0, bytes_read=5_000_000, files_read=7, keys_listed=1_001,
    )  # fmt: skip
    assert actual == pytest.approx(round((12.0 + 0.48) / 3600 * HOURLY + 2 / 1000 * 0.005 + 7 / 1000 * 0.0004, 6))


def test_actual_cost_of_an_embedded_run_is_its_duration() -> None:
    actual = actual_run_cost(
        source_type="local", cluster_kind="embedded", pricing=PRICED, duration_seconds=9.0,
        spark_seconds=None, bytes_read=5_000_000, files_read=7, keys_listed=10,
    )  # fmt: skip
    assert actual == pytest.approx(round(9.0 / 3600 * HOURLY, 6))


def test_actual_cost_of_a_spark_run_without_spark_time_is_its_duration() -> None:
    actual = actual_run_cost(
        source_type="local", cluster_kind="spark_connect", pricing=PRICED, duration_seconds=9.0,
        spark_seconds=None, bytes_read=5_000_000, files_read=7, keys_listed=10,
    )  # fmt: skip
    assert actual == pytest.approx(round(9.0 / 3600 * HOURLY, 6))


def test_actual_cost_of_a_run_that_found_nothing_is_its_listing() -> None:
    actual = actual_run_cost(
        source_type="s3", cluster_kind="spark_connect", pricing=PRICED, duration_seconds=1.5,
        spark_seconds=None, bytes_read=0, files_read=0, keys_listed=4_200,
    )  # fmt: skip
    assert actual == pytest.approx(round(5 / 1000 * 0.005, 6))  # ceil(4,200 / 1,000) LIST requests


# Estimate accuracy


def test_accuracy_is_the_mean_absolute_percentage_error() -> None:
    pairs = [(1.1, 1.0), (0.5, 1.0), (0.0, 0.0), (0.003, 0.004)]
    assert estimate_accuracy(pairs) == round(100 * (0.1 / 1.0 + 0.5 / 1.0 + 0.001 / 0.004) / 3, 2)


def test_accuracy_counts_an_estimate_for_a_free_run_as_fully_off() -> None:
    assert estimate_accuracy([(0.2, 0.0), (1.0, 1.0)]) == round(100 * (1.0 + 0.0) / 2, 2)


def test_accuracy_without_usable_pairs_is_none() -> None:
    assert estimate_accuracy([]) is None
    assert estimate_accuracy([(0.0, 0.0), (0.0, 0.0)]) is None
    assert estimate_accuracy(iter([(2.0, 4.0)])) == 50.0
