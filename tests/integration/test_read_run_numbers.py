"""Migration 0012 on a real PostgreSQL: the generated run numbers agree with the metrics jsonb, and the pool.

The API's lists and dashboard read ``read.runs``' numbers from stored generated columns instead of the
jsonb (issue 13); these must say what the jsonb says, also after the projector's updates, and a value
that is not a number must not make the projector's write fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoloader_api.monitoring import Monitoring
from autoloader_api.queries import ReadModels, samples_from
from autoloader_db.database import Pool, create_pool

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
COLUMNS = {
    "files_processed": int,
    "files_listed": int,
    "records_ingested": int,
    "bytes_read": int,
    "batches": int,
    "duration_seconds": float,
    "spark_seconds": float,
}


async def _insert(
    pool: Pool, run_id: str, metrics: dict[str, Any], *, status: str = "success", minutes: int = 0
) -> None:
    await pool.execute(
        """INSERT INTO read.runs (id, tenant_id, ingestion_id, status, trigger, requested_at, ended_at,
                                  requested_by, metrics)
           VALUES ($1, 'tnt_1', 'ing_1', $2, 'scheduled', $3, $3, 'service:scheduler', $4)""",
        run_id,
        status,
        NOW - timedelta(minutes=minutes),
        metrics,
    )


async def _numbers(pool: Pool, run_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(f"SELECT {', '.join(COLUMNS)} FROM read.runs WHERE id = $1", run_id)  # noqa: S608
    return dict(row.items())


async def test_the_generated_columns_agree_with_the_metrics_jsonb_after_inserts_and_updates(pool: Pool) -> None:
    metrics = {
        "files_processed": 12,
        "files_listed": 40,
        "records_ingested": 9_000_000_000,  # beyond int32
        "bytes_read": 123_456_789,
        "batches": 3,
        "duration_seconds": 4.25,
        "spark_seconds": 0.5,
        "files_failed": 1,
    }
    await _insert(pool, "run_1", metrics)
    assert await _numbers(pool, "run_1") == {name: metrics[name] for name in COLUMNS}

    await _insert(pool, "run_2", {})  # a run still going has no metrics yet
    assert await _numbers(pool, "run_2") == dict.fromkeys(COLUMNS)

    # The projector's updates: merge progress (metrics || ...) and replace on completion.
    await pool.execute("UPDATE read.runs SET metrics = metrics || $2::jsonb WHERE id = $1", "run_2", {"bytes_read": 7})
    assert (await _numbers(pool, "run_2"))["bytes_read"] == 7
    await pool.execute("UPDATE read.runs SET metrics = $2 WHERE id = $1", "run_2", {"files_processed": 2})
    assert await _numbers(pool, "run_2") == dict.fromkeys(COLUMNS) | {"files_processed": 2}

    # Every row, the jsonb and the column side by side, as the old reads cast them.
    rows = await pool.fetch(
        """SELECT count(*) FILTER (WHERE bytes_read IS DISTINCT FROM (metrics->>'bytes_read')::bigint) AS bytes,
                  count(*) FILTER (WHERE duration_seconds IS DISTINCT FROM (metrics->>'duration_seconds')::float8)
                    AS duration
           FROM read.runs"""
    )
    assert dict(rows[0].items()) == {"bytes": 0, "duration": 0}


async def test_a_metric_that_is_not_a_number_leaves_its_column_null_and_the_write_succeeds(pool: Pool) -> None:
    odd = {
        "bytes_read": "12",  # a string: not a JSON number
        "files_processed": 1.6,  # a fraction of an integer counter: rounded
        "records_ingested": 1e30,  # beyond bigint
        "batches": None,
        "duration_seconds": [1],
        "files_listed": True,
    }
    await _insert(pool, "run_odd", odd)

    numbers = await _numbers(pool, "run_odd")
    assert numbers["bytes_read"] is None
    assert numbers["files_processed"] == 2
    assert numbers["records_ingested"] is None
    assert numbers["batches"] is None
    assert numbers["duration_seconds"] is None
    assert numbers["files_listed"] is None


async def test_the_reads_on_the_columns_answer_what_the_jsonb_said(pool: Pool) -> None:
    for n in range(30):
        status = ("success", "partial", "failed", "skipped")[n % 4]
        await _insert(
            pool,
            f"run_{n:02d}",
            {"bytes_read": 0 if n % 5 == 0 else 1000 + n, "files_processed": n, "files_listed": 2 * n,
             "records_ingested": 10 * n, "duration_seconds": n / 4, "spark_seconds": n % 2, "batches": n % 3},
            status=status,
            minutes=n,
        )
    reads = ReadModels(pool)

    averages = await reads.recent_run_averages("tnt_1", ["ing_1", "ing_none"], limit=5)
    # The 5 newest finished runs (skipped ones are not): 0, 1, 2, 4, 5.
    assert averages == {"ing_1": {"bytes": (0 + 1001 + 1002 + 1004 + 0) / 5, "files": 12 / 5, "listed": 24 / 5}}

    samples = await reads.run_samples("tnt_1", "ing_1", limit=3)
    assert [(s.bytes_read, s.duration_seconds, s.spark_seconds, s.batches) for s in samples] == [
        (1001, 0.25, 1.0, 1),
        (1002, 0.5, None, 2),
        (1004, 1.0, None, 1),
    ]
    # Both in one statement, as a page's cost model reads them.
    both = await reads.cost_histories("tnt_1", ["ing_1", "ing_none"], limit=5)
    assert set(both) == {"ing_1"}
    assert both["ing_1"][0] == averages["ing_1"]
    assert samples_from(both["ing_1"][1]) == await reads.run_samples("tnt_1", "ing_1", limit=5)
    assert both["ing_1"][1] == (await reads.run_numbers_of("tnt_1", ["ing_1"], limit=5))["ing_1"]

    finished = [n for n in range(30) if n % 4 != 3]
    expected = sum(10 * n for n in finished) / sum(0 if n % 5 == 0 else 1000 + n for n in finished)
    assert await reads.rows_per_byte("tnt_1", "ing_1") == pytest.approx(expected)

    day = (await Monitoring(pool).dashboard("tnt_1", now=NOW)).last_24h
    assert (day.runs, day.successful_runs, day.failed_runs) == (30, 8, 7)
    assert day.files == sum(range(30))
    assert day.rows == 10 * sum(range(30))
    assert day.bytes == sum(0 if n % 5 == 0 else 1000 + n for n in range(30))


async def test_the_dashboard_in_one_statement_keeps_every_total(pool: Pool) -> None:
    for index, (status, last) in enumerate(
        [("active", "success"), ("active", "failed"), ("paused", None), ("error", None), ("deleted", "failed")]
    ):
        await pool.execute(
            """INSERT INTO read.ingestions (id, tenant_id, name, status, source_type, config, version, created_by,
                                            created_at, updated_at, last_run_status)
               VALUES ($1, 'tnt_1', $1, $2, 's3', '{}'::jsonb, 1, 'key:k', $3, $3, $4)""",
            f"ing_{index}",
            status,
            NOW - timedelta(hours=index),
            last,
        )
    await pool.execute(
        """INSERT INTO read.alerts (id, tenant_id, ingestion_id, kind, message, details, raised_at, status)
           VALUES ('alr_1', 'tnt_1', 'ing_2', 'no_files', 'no files for 2 hours', '{}'::jsonb, $1, 'active')""",
        NOW,
    )
    await pool.execute(
        """INSERT INTO read.daily_run_stats (tenant_id, ingestion_id, day, cost_actual)
           VALUES ('tnt_1', 'ing_0', $1, 1.5), ('tnt_1', 'ing_0', $2, 2.25)""",
        NOW.date(),
        NOW.date().replace(day=1) - timedelta(days=1),  # last month: not counted
    )

    dashboard = await Monitoring(pool).dashboard("tnt_1", now=NOW)

    assert dashboard.ingestions.by_status == {"active": 2, "paused": 1, "draft": 0, "error": 1}
    assert dashboard.ingestions.total == 4
    assert dashboard.cost_this_month.amount == 1.5
    assert dashboard.alerts.active == 1
    assert [(a.ingestion_id, a.reason) for a in dashboard.attention] == [
        ("ing_1", "its last run failed"),
        ("ing_2", "no files for 2 hours"),
        ("ing_3", "the ingestion is in error: a schema change waits for a resolution"),
    ]
    empty = await Monitoring(pool).dashboard("tnt_other", now=NOW)
    assert empty.ingestions.total == 0
    assert empty.attention == []
    assert empty.last_24h.runs == 0


async def test_a_pool_without_session_resets_skips_the_round_trip_but_still_rolls_back(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1, reset_sessions=False)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'kept'")
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as conn:
            # The same connection, its session as it was left: no RESET ALL was sent.
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SHOW application_name") == "kept"
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute("CREATE TEMP TABLE left_open (n int)")
        async with pool.acquire() as conn:
            # A transaction left open is still rolled back on release.
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
    finally:
        await pool.close()

    resetting = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with resetting.acquire() as conn:
            await conn.execute("SET application_name = 'kept'")
        async with resetting.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") != "kept"
    finally:
        await resetting.close()


async def test_jsonb_is_decoded_to_the_same_values_as_before(pool: Pool) -> None:
    values = [
        {"a": 1, "b": [1.5, None, True, "x"], "nested": {"k": "é ✓"}},
        [],
        12345678901234567890123,  # beyond 64 bits
        -0.0,
        "text",
    ]
    for value in values:
        assert await pool.fetchval("SELECT $1::jsonb", value) == value
    # jsonb keeps numbers msgspec refuses (PostgreSQL writes 1e400 out in 401 digits); json.loads reads them.
    assert await pool.fetchval("SELECT '1e400'::jsonb") == 10**400
    for text in ("[1.5e300, 0.1, 1e-7]", '{"x": 123.456e-2, "y": [null, false]}'):
        stored = await pool.fetchval("SELECT ($1::text)::jsonb::text", text)
        assert await pool.fetchval("SELECT ($1::text)::jsonb", text) == json.loads(stored)
