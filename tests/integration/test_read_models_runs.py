"""ReadModels' run queries on a real PostgreSQL: the batched cost history equals the per-ingestion one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoloader_api.queries import ReadModels
from autoloader_db.database import Pool

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, tzinfo=UTC)


async def _add_run(pool: Pool, tenant: str, ingestion: str, n: int, *, status: str, bytes_read: int) -> None:
    await pool.execute(
        """INSERT INTO read.runs (id, tenant_id, ingestion_id, status, trigger, requested_at, requested_by, metrics)
           VALUES ($1, $2, $3, $4, 'scheduled', $5, 'service:scheduler', $6)""",
        f"run_{ingestion}_{n}",
        tenant,
        ingestion,
        status,
        START + timedelta(minutes=n),
        {"bytes_read": bytes_read, "duration_seconds": n / 10, "batches": 1 + n % 3},
    )


async def test_run_samples_of_a_page_equals_the_samples_of_each_ingestion(pool: Pool) -> None:
    statuses = ("success", "partial", "failed", "skipped", "running")
    for ingestion in ("ing_a", "ing_b"):
        for n in range(30):
            await _add_run(
                pool, "tnt_1", ingestion, n, status=statuses[n % 5], bytes_read=0 if n % 7 == 0 else 1000 + n
            )
    await _add_run(pool, "tnt_2", "ing_c", 1, status="success", bytes_read=5000)  # another tenant's
    reads = ReadModels(pool)

    batched = await reads.run_samples_of("tnt_1", ["ing_a", "ing_b", "ing_a", "ing_c", "ing_none"], limit=5)

    # The last 5 finished runs that read bytes, newest first: 27 failed, 26 partial, 25 success, 22 failed,
    # 20 success (29/24 running, 28/23 skipped, 21 read nothing).
    expected = [1027, 1026, 1025, 1022, 1020]
    assert set(batched) == {"ing_a", "ing_b"}
    for ingestion in ("ing_a", "ing_b"):
        assert [s.bytes_read for s in batched[ingestion]] == expected
        assert batched[ingestion] == await reads.run_samples("tnt_1", ingestion, limit=5)
    assert batched["ing_a"][0].duration_seconds == 2.7
    assert batched["ing_a"][0].batches == 1
    assert await reads.run_samples("tnt_1", "ing_c", limit=5) == []
