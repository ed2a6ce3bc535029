"""Monitoring reads: per-ingestion metrics, tenant dashboard, the audit trail, alerts (all tenant-scoped).

Totals come from the projector's daily roll-up (``read.daily_run_stats``), so they stay cheap with
millions of runs; only the duration percentile and the estimate accuracy read the window's runs
of one ingestion, and the last 24 hours read the tenant's runs by end time (both indexed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from autoloader_api.monitoring_schemas import (
    AlertCount,
    AlertOut,
    AlertPage,
    Attention,
    CostTotals,
    DailyMetrics,
    Dashboard,
    EventOut,
    EventPage,
    IngestionMetrics,
    IngestionTotals,
    LastDay,
    Money,
    RunCounts,
)
from autoloader_api.pagination import decode_cursor, encode_cursor
from autoloader_contracts.cost import estimate_accuracy
from autoloader_core.errors import FieldError, ValidationFailed
from autoloader_db.database import Pool, Record

ALERT_STATUSES = ("active", "cleared")
ATTENTION_SHOWN = 20

DASHBOARD_SQL = """
SELECT (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM read.ingestions
                                                 WHERE tenant_id = $1 AND status <> 'deleted' GROUP BY status) s
       ) AS statuses,
       d.runs, d.success, d.failed, d.finished, d.files, d.rows, d.bytes,
       (SELECT COALESCE(sum(cost_actual), 0) FROM read.daily_run_stats WHERE tenant_id = $1 AND day >= $3) AS cost,
       (SELECT count(*) FROM read.alerts WHERE tenant_id = $1 AND status = 'active') AS alerts,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name, 'status', t.status,
                                                     'last_run_status', t.last_run_status, 'alert', t.alert)
                                  ORDER BY t.updated_at DESC), '[]'::jsonb)
        FROM (SELECT i.id, i.name, i.status, i.last_run_status, i.updated_at,
                     (SELECT a.message FROM read.alerts a WHERE a.ingestion_id = i.id AND a.status = 'active'
                      ORDER BY a.raised_at DESC LIMIT 1) AS alert
              FROM read.ingestions i
              WHERE i.tenant_id = $1 AND i.status <> 'deleted'
                AND (i.status = 'error' OR i.last_run_status = 'failed'
                     OR EXISTS (SELECT 1 FROM read.alerts a WHERE a.ingestion_id = i.id AND a.status = 'active'))
              ORDER BY i.updated_at DESC LIMIT $4) t
       ) AS attention
FROM (SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'success') AS success,
             count(*) FILTER (WHERE status = 'failed') AS failed,
             count(*) FILTER (WHERE status IN ('success', 'partial', 'failed')) AS finished,
             COALESCE(sum(files_processed), 0) AS files, COALESCE(sum(records_ingested), 0) AS rows,
             COALESCE(sum(bytes_read), 0) AS bytes
      FROM read.runs WHERE tenant_id = $1 AND ended_at >= $2) d
"""
"""The whole dashboard in one statement: $1 tenant, $2 start of the last 24 hours, $3 first day of the month,
$4 ingestions shown as needing attention."""


class Monitoring:
    """Tenant-scoped monitoring queries."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def metrics(self, tenant_id: str, ingestion_id: str, *, days: int, now: datetime) -> IngestionMetrics:
        """The ingestion's runs that ended in the last ``days`` UTC days (today included)."""
        _range("days", days, 1, 90)
        first_day = now.astimezone(UTC).date() - timedelta(days=days - 1)
        start = datetime.combine(first_day, time(), tzinfo=UTC)
        daily = await self._daily(tenant_id, ingestion_id, first_day, days)
        durations = await self._pool.fetchrow(
            """SELECT avg((metrics->>'duration_seconds')::float8) AS avg,
                      percentile_cont(0.95) WITHIN GROUP (ORDER BY (metrics->>'duration_seconds')::float8) AS p95,
                      array_agg(ARRAY[(cost->>'estimated')::float8, (cost->>'actual')::float8])
                        FILTER (WHERE cost->>'estimated' IS NOT NULL AND cost->>'actual' IS NOT NULL) AS costs
               FROM read.runs WHERE tenant_id = $1 AND ingestion_id = $2 AND ended_at >= $3
                 AND status IN ('success', 'partial', 'failed')""",
            tenant_id,
            ingestion_id,
            start,
        )
        pairs = [(float(e), float(a)) for e, a in (durations["costs"] or [])]
        return _metrics(days, start, now, daily, durations, accuracy=estimate_accuracy(pairs))

    async def _daily(self, tenant_id: str, ingestion_id: str, first_day: Any, days: int) -> list[Record]:
        return list(
            await self._pool.fetch(
                """SELECT d.day, COALESCE(s.runs, 0) AS runs, COALESCE(s.success, 0) AS success,
                          COALESCE(s.partial, 0) AS partial, COALESCE(s.failed, 0) AS failed,
                          COALESCE(s.skipped, 0) AS skipped, COALESCE(s.files, 0) AS files,
                          COALESCE(s.files_failed, 0) AS files_failed, COALESCE(s.rows, 0) AS rows,
                          COALESCE(s.bytes, 0) AS bytes, COALESCE(s.duration_sum, 0) AS duration_sum,
                          COALESCE(s.cost_actual, 0) AS cost_actual, COALESCE(s.cost_estimated, 0) AS cost_estimated
                   FROM generate_series($3::date, $3::date + ($4 - 1), interval '1 day') AS d(day)
                   LEFT JOIN read.daily_run_stats s
                     ON s.tenant_id = $1 AND s.ingestion_id = $2 AND s.day = d.day::date
                   ORDER BY d.day""",
                tenant_id,
                ingestion_id,
                first_day,
                days,
            )
        )

    async def dashboard(self, tenant_id: str, *, now: datetime) -> Dashboard:
        """The tenant's totals: ingestions by status, the last 24 hours, this month's cost, alerts.

        One statement (one round trip): the last 24 hours come from the index of runs by end time,
        which carries the numbers summed (migration 0012), the month from the daily roll-up.
        """
        month_start = now.astimezone(UTC).date().replace(day=1)
        row = await self._pool.fetchrow(
            DASHBOARD_SQL, tenant_id, now - timedelta(hours=24), month_start, ATTENTION_SHOWN
        )
        by_status = {"active": 0, "paused": 0, "draft": 0, "error": 0} | {
            status: int(n) for status, n in (row["statuses"] or {}).items()
        }
        return Dashboard(
            ingestions=IngestionTotals(total=sum(by_status.values()), by_status=by_status),
            last_24h=_last_day(row),
            cost_this_month=Money(amount=round(float(row["cost"]), 6)),
            alerts=AlertCount(active=int(row["alerts"])),
            attention=[Attention(ingestion_id=r["id"], name=r["name"], reason=_reason(r)) for r in row["attention"]],
        )

    async def events(self, tenant_id: str, ingestion_id: str, *, limit: int, cursor: str | None) -> EventPage:
        """One page of the ingestion's events, newest first."""
        _range("limit", limit, 1, 500)
        args: list[Any] = [tenant_id, ingestion_id]
        where = "tenant_id = $1 AND ingestion_id = $2"
        if cursor:
            (after,) = decode_cursor(cursor, size=1)
            args.append(int(after))
            where += " AND seq < $3"
        rows = await self._pool.fetch(
            f"SELECT * FROM read.ingestion_events WHERE {where} ORDER BY seq DESC LIMIT {limit + 1}",  # noqa: S608
            *args,
        )
        items = [_event(r) for r in rows[:limit]]
        return EventPage(items=items, next_cursor=encode_cursor(rows[limit - 1]["seq"]) if len(rows) > limit else None)

    async def alerts(
        self, tenant_id: str, *, status: str | None, ingestion_id: str | None, limit: int, cursor: str | None
    ) -> AlertPage:
        """One page of the tenant's alerts, newest first."""
        _range("limit", limit, 1, 500)
        if status is not None and status not in ALERT_STATUSES:
            raise ValidationFailed([FieldError("status", f"unknown status {status!r}; use active or cleared")])
        args: list[Any] = [tenant_id]
        where = ["a.tenant_id = $1"]
        for column, value in (("a.status", status), ("a.ingestion_id", ingestion_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if cursor:
            raised, alert_id = decode_cursor(cursor, size=2)
            args += [datetime.fromisoformat(raised), alert_id]
            where.append(f"(a.raised_at, a.id) < (${len(args) - 1}, ${len(args)})")
        rows = await self._pool.fetch(
            f"""SELECT a.*, i.name AS ingestion_name FROM read.alerts a
                LEFT JOIN read.ingestions i ON i.id = a.ingestion_id
                WHERE {" AND ".join(where)} ORDER BY a.raised_at DESC, a.id DESC LIMIT {limit + 1}""",  # noqa: S608
            *args,
        )
        items = [_alert(r) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = encode_cursor(last["raised_at"].isoformat(), last["id"]) if last is not None else None
        return AlertPage(items=items, next_cursor=next_cursor)

    async def active_alerts(self, tenant_id: str, ingestion_ids: list[str]) -> dict[str, list[AlertOut]]:
        """Ingestion id -> its active alerts (one query for a page of ingestions)."""
        rows = await self._pool.fetch(
            """SELECT a.*, NULL::text AS ingestion_name FROM read.alerts a
               WHERE a.tenant_id = $1 AND a.ingestion_id = ANY($2::text[]) AND a.status = 'active'
               ORDER BY a.raised_at""",
            tenant_id,
            ingestion_ids,
        )
        found: dict[str, list[AlertOut]] = {}
        for row in rows:
            found.setdefault(row["ingestion_id"], []).append(_alert(row))
        return found


def _metrics(
    days: int,
    start: datetime,
    now: datetime,
    daily: list[Record],
    durations: Mapping[str, Any],
    *,
    accuracy: float | None,
) -> IngestionMetrics:
    def total(name: str) -> int:
        return int(sum(r[name] for r in daily))

    return IngestionMetrics(
        days=days,
        from_=start,
        to=now,
        runs=RunCounts(
            total=total("runs"),
            success=total("success"),
            partial=total("partial"),
            failed=total("failed"),
            skipped=total("skipped"),
        ),
        files_loaded=total("files"),
        files_failed=total("files_failed"),
        rows=total("rows"),
        bytes=total("bytes"),
        avg_duration_seconds=_rounded(durations["avg"]),
        p95_duration_seconds=_rounded(durations["p95"]),
        failures=total("failed"),
        cost=CostTotals(
            actual=round(sum(float(r["cost_actual"]) for r in daily), 6),
            estimated=round(sum(float(r["cost_estimated"]) for r in daily), 6),
        ),
        estimate_accuracy_percent=accuracy,
        daily=[_day(r) for r in daily],
    )


def _day(row: Mapping[str, Any]) -> DailyMetrics:
    finished = row["success"] + row["partial"] + row["failed"]
    return DailyMetrics(
        date=row["day"].date() if isinstance(row["day"], datetime) else row["day"],
        runs=row["runs"],
        success=row["success"],
        partial=row["partial"],
        failed=row["failed"],
        skipped=row["skipped"],
        files=int(row["files"]),
        rows=int(row["rows"]),
        bytes=int(row["bytes"]),
        avg_duration_seconds=round(float(row["duration_sum"]) / finished, 3) if finished else None,
        cost=round(float(row["cost_actual"]), 6),
    )


def _last_day(row: Mapping[str, Any]) -> LastDay:
    finished = int(row["finished"])
    return LastDay(
        runs=int(row["runs"]),
        successful_runs=int(row["success"]),
        failed_runs=int(row["failed"]),
        files=int(row["files"]),
        rows=int(row["rows"]),
        bytes=int(row["bytes"]),
        success_rate=round(int(row["success"]) / finished, 4) if finished else None,
    )


def _reason(row: Mapping[str, Any]) -> str:
    if row["status"] == "error":
        return "the ingestion is in error: a schema change waits for a resolution"
    if row["last_run_status"] == "failed":
        return "its last run failed"
    return str(row["alert"] or "an alert is active")


def _event(row: Mapping[str, Any]) -> EventOut:
    return EventOut(
        seq=row["seq"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        aggregate=row["aggregate"],
        aggregate_id=row["aggregate_id"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        data=row["data"],
    )


def _alert(row: Mapping[str, Any]) -> AlertOut:
    return AlertOut(
        id=row["id"],
        ingestion_id=row["ingestion_id"],
        ingestion_name=row["ingestion_name"],
        kind=row["kind"],
        message=row["message"],
        details=row["details"],
        raised_at=row["raised_at"],
        cleared_at=row["cleared_at"],
        clear_reason=row["clear_reason"],
        status=row["status"],
    )


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationFailed([FieldError(name, f"{name} must be between {low} and {high}, got {value}")])
