"""``POST /schedules/explain``: the wizard's schedule step says in words, and in times, what a schedule means."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

EXPLAIN = "/api/v1/schedules/explain"


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def test_a_daily_schedule_lists_its_next_five_runs_at_local_wall_clock_time(stack: ApiStack) -> None:
    headers = await stack.tenant()
    schedule = {"frequency": "daily", "time": "02:00", "timezone": "Europe/Berlin"}

    response = await stack.client.post(EXPLAIN, json={"schedule": schedule}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["description"] == "Every day at 02:00 (Europe/Berlin)"
    assert body["cron"] == "0 2 * * *"
    runs = [datetime.fromisoformat(t) for t in body["next_runs"]]
    assert len(runs) == 5
    berlin = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in runs]
    assert {(t.hour, t.minute) for t in berlin} == {(2, 0)}
    assert all(later.date() - earlier.date() == timedelta(days=1) for earlier, later in pairwise(berlin))
    assert runs[0] > datetime.now(ZoneInfo("UTC"))


async def test_a_cron_schedule_is_described_in_words(stack: ApiStack) -> None:
    headers = await stack.tenant()
    schedule = {"frequency": "cron", "cron_expression": "30 6 * * 1-5", "timezone": "America/New_York"}

    response = await stack.client.post(EXPLAIN, json={"schedule": schedule, "count": 7}, headers=headers)

    body = response.json()
    assert body["description"] == "At 06:30, Monday through Friday (America/New_York)"
    local = [datetime.fromisoformat(t).astimezone(ZoneInfo("America/New_York")) for t in body["next_runs"]]
    assert len(local) == 7
    assert all(t.weekday() < 5 and (t.hour, t.minute) == (6, 30) for t in local)


async def test_a_manual_schedule_has_no_run_times(stack: ApiStack) -> None:
    headers = await stack.tenant()

    body = (await stack.client.post(EXPLAIN, json={"schedule": {"frequency": "manual"}}, headers=headers)).json()

    assert body["next_runs"] == []
    assert body["cron"] is None
    assert body["description"].startswith("Manually only")


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"schedule": {"frequency": "cron", "cron_expression": "61 * * * *"}}, "schedule.cron_expression", "invalid"),
        ({"schedule": {"frequency": "cron", "cron_expression": "0 0 2 * * *"}}, "schedule.cron_expression", "5 fields"),
        ({"schedule": {"frequency": "weekly", "time": "02:00"}}, "schedule.day_of_week", "day_of_week"),
        ({"schedule": {"frequency": "daily", "time": "2am"}}, "schedule.time", "HH:MM"),
        ({"schedule": {"frequency": "daily", "time": "02:00", "timezone": "Mars/Base"}}, "schedule.timezone", "IANA"),
        ({"schedule": {"frequency": "daily", "time": "02:00"}, "count": 0}, "count", "between 1 and 50"),
    ],
)
async def test_an_invalid_schedule_names_the_field_to_fix(
    stack: ApiStack, payload: dict[str, object], field: str, words: str
) -> None:
    headers = await stack.tenant()

    body = problem(await stack.client.post(EXPLAIN, json=payload, headers=headers), 422)

    errors = {e["field"]: e["message"] for e in body["errors"]}
    assert field in errors, body
    assert words in errors[field]


async def test_explaining_needs_an_api_key(stack: ApiStack) -> None:
    response = await stack.client.post(EXPLAIN, json={"schedule": {"frequency": "manual"}})

    assert response.status_code == 401


async def test_an_ingestion_answer_says_its_schedule_in_words(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers, schedule={"frequency": "weekly", "time": "07:30", "day_of_week": "monday"})

    fetched = (await stack.client.get(f"/api/v1/ingestions/{created['id']}", headers=headers)).json()

    assert created["metadata"]["schedule_description"] == "Every Monday at 07:30 (UTC)"
    assert fetched["metadata"]["schedule_description"] == "Every Monday at 07:30 (UTC)"
