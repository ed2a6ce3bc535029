"""``AlertBook`` on a real PostgreSQL: which watched ingestions are past their ``no_files_alert_hours``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoloader_db.database import create_pool
from autoloader_discovery.alerts import AlertBook

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def test_overdue_lists_ingestions_past_their_hours_without_an_active_alert(database_url: str) -> None:
    pool = await create_pool(database_url)
    try:
        book = AlertBook(pool)
        for ingestion_id, last, hours in (
            ("ing_quiet", NOW - timedelta(hours=3), 2),  # 3 h without files, alert after 2 h
            ("ing_recent", NOW - timedelta(hours=1), 2),  # not yet
            ("ing_unwatched", NOW - timedelta(days=9), None),  # no threshold
            ("ing_alerted", NOW - timedelta(hours=5), 1),  # already raised
        ):
            await book.record_watch(
                tenant_id="tnt_1", ingestion_id=ingestion_id, last_files_at=last, hours=hours, backlog=[]
            )
        await book.activate(
            tenant_id="tnt_1", ingestion_id="ing_alerted", kind="no_new_files", alert_id="alr_1", at=NOW
        )

        overdue = await book.overdue(NOW)

        assert overdue == [("tnt_1", "ing_quiet", NOW - timedelta(hours=3))]
        await book.deactivate("ing_alerted", "no_new_files")
        assert sorted(i for _, i, _ in await book.overdue(NOW)) == ["ing_alerted", "ing_quiet"]
    finally:
        await pool.close()
