"""The cost model: what an ingestion costs per run and per month, against an always-on job.

Pure functions, no I/O. The API estimates before activation and for each list page; discovery
estimates each planned run and prices each completed one. Every formula, figure and assumption
is in docs/cost.md.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec
from croniter import croniter

from autoloader_contracts.cluster import ClusterPricing
from autoloader_contracts.ingestion import ScheduleSpec
from autoloader_contracts.schedule import cron_of, timezone

ThroughputSource = Literal["default", "history"]

HISTORY_RUNS = 20
"""At most this many of the latest runs that loaded data refine the throughput."""
KEYS_PER_LIST_REQUEST = 1000
"""A LIST request of S3, Azure Blob and GCS returns at most this many keys."""
OBJECT_STORES = ("s3", "azure_blob", "gcs")
"""Source types whose warehouse is assumed on the same provider (the others: S3 storage price)."""
BYTES_PER_GB = 1e9


class CostRates(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Object-store prices, in the cluster pricing's currency.

    Attributes:
        list_per_1000_requests: Price of 1,000 LIST requests (each returns up to 1,000 keys).
        get_per_1000_requests: Price of 1,000 GET requests (one per file read).
        storage_per_gb_month: Price of one GB (10^9 bytes) of table data stored for a month.
    """

    list_per_1000_requests: float
    get_per_1000_requests: float
    storage_per_gb_month: float


_FREE = CostRates(list_per_1000_requests=0.0, get_per_1000_requests=0.0, storage_per_gb_month=0.0)
DEFAULT_RATES: dict[str, CostRates] = {
    "s3": CostRates(list_per_1000_requests=0.005, get_per_1000_requests=0.0004, storage_per_gb_month=0.023),
    "azure_blob": CostRates(list_per_1000_requests=0.00065, get_per_1000_requests=0.00044, storage_per_gb_month=0.018),
    "gcs": CostRates(list_per_1000_requests=0.005, get_per_1000_requests=0.0004, storage_per_gb_month=0.020),
    "ftp": _FREE,
    "sftp": _FREE,
    "local": _FREE,
}
"""Public list prices (USD) per source type: S3 Standard, Azure Blob hot, GCS Standard; FTP/SFTP/local free."""


class EngineProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long an engine takes for a run.

    Attributes:
        fixed_seconds_per_run: Start cost of a run that loads data (coordination, Spark session).
        seconds_per_batch: Cost of each batch beyond its bytes.
        throughput: Input file bytes per second, by format type.
    """

    fixed_seconds_per_run: float
    seconds_per_batch: float
    throughput: dict[str, float]


def _by_format(text: float, json: float, columnar: float) -> dict[str, float]:
    return {
        "csv": text,
        "tsv": text,
        "json": json,
        "jsonl": json,
        "parquet": columnar,
        "avro": columnar,
        "orc": columnar,
    }


ENGINE_PROFILES: dict[str, EngineProfile] = {
    "embedded": EngineProfile(
        fixed_seconds_per_run=0.2, seconds_per_batch=0.02, throughput=_by_format(22e6, 38e6, 12e6)
    ),
    "spark_connect": EngineProfile(
        fixed_seconds_per_run=0.48, seconds_per_batch=0.33, throughput=_by_format(9e6, 15e6, 6e6)
    ),
}
"""Measured on a 2-core machine (embedded: full stack, wide data; Spark Connect: ``local[2]``, ``staged``)."""

NATIVE_PROFILE = EngineProfile(
    fixed_seconds_per_run=1.6, seconds_per_batch=0.33, throughput=_by_format(5e6, 8e6, 3.3e6)
)
"""Spark Connect with ``native`` commits: the cluster's own catalog writes and commits, the loader's
connectors feed it (bench/catalog_engines.py, into a REST catalog: a 1-row batch 1.6 s, 1M CSV rows
~3.4x the embedded engine's time; JSON and columnar scaled like the staged profile)."""

OUTPUT_RATIOS: dict[str, float] = _by_format(0.35, 0.2, 1.0)
"""Iceberg (Parquet) bytes written per input byte, by format type."""


class RunSample(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one completed run of the ingestion did (the throughput history).

    Attributes:
        bytes_read: Input bytes loaded.
        duration_seconds: Wall-clock duration of the run.
        spark_seconds: Spark-side time summed over its batches (None: not measured / embedded).
        batches: Batches loaded.
    """

    bytes_read: int
    duration_seconds: float
    spark_seconds: float | None = None
    batches: int = 0


class CostInputs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything an estimate depends on.

    Attributes:
        schedule: When runs happen (runs per month come from its real cron occurrences).
        source_type: ``s3`` | ``azure_blob`` | ``gcs`` | ``ftp`` | ``sftp`` | ``local``.
        format_type: ``csv`` | ``tsv`` | ``json`` | ``jsonl`` | ``parquet`` | ``avro`` | ``orc``.
        cluster_kind: ``embedded`` | ``spark_connect``.
        pricing: What an hour of the cluster costs.
        bytes_per_run: Input bytes a run loads.
        files_per_run: Files a run reads (one GET each).
        keys_listed_per_run: Keys a run's listing returns.
        batches_per_run: Batches a run is split into.
        history: The ingestion's completed runs, newest first (refines the throughput).
        runs_per_month: Overrides the count from the schedule.
        rates: Overrides the source type's default object-store rates.
        commit_strategy: The Spark cluster's ``staged`` | ``native`` (ignored for the embedded engine).
    """

    schedule: ScheduleSpec
    source_type: str
    format_type: str
    cluster_kind: str
    pricing: ClusterPricing
    bytes_per_run: int
    files_per_run: int
    keys_listed_per_run: int
    batches_per_run: int
    history: list[RunSample] = []
    runs_per_month: int | None = None
    rates: CostRates | None = None
    commit_strategy: str = "staged"


class CostAssumptions(msgspec.Struct, frozen=True, kw_only=True):
    """The figures an estimate was computed with (see docs/cost.md)."""

    engine: str
    format: str
    throughput_bytes_per_second: float
    throughput_source: ThroughputSource
    history_runs: int
    fixed_seconds_per_run: float
    seconds_per_batch: float
    batches_per_run: int
    keys_listed_per_run: int
    hourly_price: float
    month: str
    days_in_month: int
    timezone: str
    rates: CostRates
    output_ratio: float


class CostEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """An ingestion's expected cost (money in ``currency``, 6 decimals; seconds 3; hours 6)."""

    compute_per_run: float
    compute_monthly: float
    storage_monthly: float
    discovery_monthly: float
    total_monthly: float
    currency: str
    runs_per_month: int
    bytes_per_run: int
    files_per_run: int
    estimated_duration_seconds: float
    discovery_per_run: float
    cluster_hours_per_month: float
    always_on_monthly: float
    always_on_cluster_hours: float
    savings_monthly: float
    savings_cluster_hours: float
    savings_percent: float
    assumptions: CostAssumptions


def hourly_price(pricing: ClusterPricing) -> float:
    """What an hour of the cluster costs: nodes x units per node-hour x price per unit."""
    return pricing.nodes * pricing.units_per_node_hour * pricing.price_per_unit


def default_rates(source_type: str) -> CostRates:
    """The rates an estimate uses for ``source_type`` when the caller gives none.

    Requests are priced at the source's provider; the warehouse of a source that is not an object
    store (and of an unknown type) is priced as S3 Standard storage.
    """
    rates = DEFAULT_RATES.get(source_type, _FREE)
    if source_type in OBJECT_STORES:
        return rates
    return msgspec.structs.replace(rates, storage_per_gb_month=DEFAULT_RATES["s3"].storage_per_gb_month)


def runs_per_month(schedule: ScheduleSpec, at: datetime) -> int:
    """Scheduled runs in the calendar month (in the schedule's timezone) that contains ``at``.

    Counts the real cron occurrences from the month's first local midnight (included) to the
    next month's (excluded), with :func:`~autoloader_contracts.schedule.next_fire_time`'s DST
    rules. ``manual`` schedules have none. A naive ``at`` is read as UTC.

    Raises:
        ScheduleError: The schedule is invalid.
    """
    spec = _as_cron(schedule)
    expression = cron_of(spec)
    if expression is None:
        return 0
    year, month = _local_month(spec, at)
    return _scheduled_runs(expression, spec.timezone, year, month)


def estimate_cost(inputs: CostInputs, *, at: datetime) -> CostEstimate:
    """Estimate what the ingestion costs per run and in the month that contains ``at``.

    Raises:
        ScheduleError: The schedule is invalid.
    """
    assumptions = _assumptions(inputs, at)
    seconds = _run_seconds(assumptions, inputs.bytes_per_run)
    runs = inputs.runs_per_month if inputs.runs_per_month is not None else runs_per_month(inputs.schedule, at)
    compute_run = seconds / 3600 * assumptions.hourly_price
    discovery_run = _requests_cost(assumptions.rates, inputs.keys_listed_per_run, inputs.files_per_run)
    gb_month = inputs.bytes_per_run * runs * assumptions.output_ratio / BYTES_PER_GB
    storage = gb_month * assumptions.rates.storage_per_gb_month
    return _estimate(inputs, assumptions, seconds, runs, (compute_run, discovery_run, storage))


def actual_run_cost(
    *,
    source_type: str,
    cluster_kind: str,
    pricing: ClusterPricing,
    duration_seconds: float,
    spark_seconds: float | None,
    bytes_read: int,
    files_read: int,
    keys_listed: int,
    rates: CostRates | None = None,
) -> float:
    """What a completed run cost: its measured cluster time plus its listing and GET requests.

    A Spark run with Spark-side time is billed that time plus the session start; any other run its
    duration when it loaded bytes, else nothing (it costs only its listing).
    """
    seconds = duration_seconds if bytes_read > 0 else 0.0
    if _engine(cluster_kind) == "spark_connect" and spark_seconds is not None and spark_seconds > 0:
        seconds = spark_seconds + ENGINE_PROFILES["spark_connect"].fixed_seconds_per_run
    requests = _requests_cost(rates or default_rates(source_type), keys_listed, files_read)
    return _money(seconds / 3600 * hourly_price(pricing) + requests)


def estimate_accuracy(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Mean absolute percentage error of ``(estimated, actual)`` pairs, as a ± percent.

    Pairs that are both 0 are left out; a pair whose actual is 0 (estimate not) counts as 100 %
    off. ``None`` when no pair is usable.
    """
    errors = [_relative_error(estimated, actual) for estimated, actual in pairs if estimated or actual]
    if not errors:
        return None
    return round(100 * sum(errors) / len(errors), 2)


def _relative_error(estimated: float, actual: float) -> float:
    return abs(estimated - actual) / abs(actual) if actual else 1.0


def _assumptions(inputs: CostInputs, at: datetime) -> CostAssumptions:
    engine = _engine(inputs.cluster_kind)
    native = engine == "spark_connect" and inputs.commit_strategy == "native"
    profile = NATIVE_PROFILE if native else ENGINE_PROFILES[engine]
    fmt = _format(inputs.format_type)
    throughput, source, used = _throughput(profile, engine, fmt, inputs.history)
    year, month = _local_month(_as_cron(inputs.schedule), at)
    return CostAssumptions(
        engine=engine,
        format=fmt,
        throughput_bytes_per_second=round(throughput, 1),
        throughput_source=source,
        history_runs=used,
        fixed_seconds_per_run=profile.fixed_seconds_per_run,
        seconds_per_batch=profile.seconds_per_batch,
        batches_per_run=inputs.batches_per_run,
        keys_listed_per_run=inputs.keys_listed_per_run,
        hourly_price=hourly_price(inputs.pricing),
        month=f"{year:04d}-{month:02d}",
        days_in_month=calendar.monthrange(year, month)[1],
        timezone=inputs.schedule.timezone,
        rates=inputs.rates or default_rates(inputs.source_type),
        output_ratio=OUTPUT_RATIOS[fmt],
    )


def _estimate(
    inputs: CostInputs, a: CostAssumptions, seconds: float, runs: int, per: tuple[float, float, float]
) -> CostEstimate:
    compute_run, discovery_run, storage = per
    hours, always_on_hours = seconds * runs / 3600, 24.0 * a.days_in_month
    compute, always_on = compute_run * runs, always_on_hours * a.hourly_price
    return CostEstimate(
        compute_per_run=_money(compute_run),
        compute_monthly=_money(compute),
        storage_monthly=_money(storage),
        discovery_monthly=_money(discovery_run * runs),
        total_monthly=_money(compute + discovery_run * runs + storage),
        currency=inputs.pricing.currency,
        runs_per_month=runs,
        bytes_per_run=inputs.bytes_per_run,
        files_per_run=inputs.files_per_run,
        estimated_duration_seconds=round(seconds, 3),
        discovery_per_run=_money(discovery_run),
        cluster_hours_per_month=round(hours, 6),
        always_on_monthly=_money(always_on),
        always_on_cluster_hours=always_on_hours,
        savings_monthly=_money(always_on - compute),
        savings_cluster_hours=round(always_on_hours - hours, 6),
        savings_percent=round(100 * (always_on_hours - hours) / always_on_hours, 2),
        assumptions=a,
    )


def _run_seconds(a: CostAssumptions, bytes_per_run: int) -> float:
    """Fixed + batches x per-batch + bytes / throughput; a run without bytes opens no engine."""
    if bytes_per_run <= 0:
        return 0.0
    batches = max(1, a.batches_per_run)
    return a.fixed_seconds_per_run + batches * a.seconds_per_batch + bytes_per_run / a.throughput_bytes_per_second


def _throughput(
    profile: EngineProfile, engine: str, fmt: str, history: list[RunSample]
) -> tuple[float, ThroughputSource, int]:
    """Total bytes / total variable seconds of the latest runs that loaded data, else the default."""
    loaded = [run for run in history if run.bytes_read > 0][:HISTORY_RUNS]
    seconds = sum(_variable_seconds(profile, engine, run) for run in loaded)
    if not loaded or seconds <= 0:
        return profile.throughput[fmt], "default", 0
    return sum(run.bytes_read for run in loaded) / seconds, "history", len(loaded)


def _variable_seconds(profile: EngineProfile, engine: str, run: RunSample) -> float:
    """A past run's time spent on bytes: its measured time less the engine's fixed costs."""
    overhead = run.batches * profile.seconds_per_batch
    if engine == "spark_connect" and run.spark_seconds:
        return max(0.0, run.spark_seconds - overhead)  # Spark-side time excludes the session start
    return max(0.0, run.duration_seconds - profile.fixed_seconds_per_run - overhead)


def _requests_cost(rates: CostRates, keys_listed: int, files_read: int) -> float:
    """LIST requests (at least one per run: a listing is made even when it finds nothing) and GETs."""
    lists = max(1, math.ceil(keys_listed / KEYS_PER_LIST_REQUEST))
    return lists * rates.list_per_1000_requests / 1000 + max(0, files_read) * rates.get_per_1000_requests / 1000


def _engine(cluster_kind: str) -> str:
    return "embedded" if cluster_kind == "embedded" else "spark_connect"


def _format(format_type: str) -> str:
    name = format_type.lower()
    return name if name in OUTPUT_RATIOS else "csv"


def _money(amount: float) -> float:
    return round(amount, 6)


def _as_cron(schedule: ScheduleSpec) -> ScheduleSpec:
    """``custom`` is the original design's name of ``cron``."""
    if schedule.frequency == "custom":
        return msgspec.structs.replace(schedule, frequency="cron")
    return schedule


def _local_month(spec: ScheduleSpec, at: datetime) -> tuple[int, int]:
    local = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(timezone(spec))
    return local.year, local.month


@lru_cache(maxsize=4096)
def _scheduled_runs(expression: str, zone_name: str, year: int, month: int) -> int:
    """Cron occurrences from the month's first local midnight to the next month's."""
    zone = ZoneInfo(zone_name)
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
    spec = ScheduleSpec(frequency="cron", cron_expression=expression, timezone=zone_name)
    return sum(1 for _ in _fire_times(spec, zone, start, end))


def _fire_times(spec: ScheduleSpec, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """What repeated ``next_fire_time`` calls yield in ``[start, end)``, with one croniter.

    ``next_fire_time`` answers the first of one fixed set of instants (each cron wall time read with
    ``fold=0``; a skipped one with the offset before the gap). So: every wall time from a day before
    ``start`` to a day after ``end`` (more than any change of UTC offset), read so, kept once, in order.
    """
    cursor = croniter(str(spec.cron_expression), _wall(start - timedelta(days=1), zone))
    last = _wall(end + timedelta(days=1), zone)
    found: set[datetime] = set()
    while (wall := cursor.get_next(datetime)) <= last:
        due = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # as next_fire_time maps wall times
        if start <= due < end:
            found.add(due)
    yield from sorted(found)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)
