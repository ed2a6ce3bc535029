"""Ingestion lifecycle through the API: create, get, list, update, transitions, delete, run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

BASE = "/api/v1/ingestions"


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def test_create_then_get_returns_the_stored_ingestion(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers, name="orders_daily")

    fetched = (await stack.client.get(f"{BASE}/{created['id']}", headers=headers)).json()

    assert created == fetched
    assert fetched["status"] == "draft"
    assert fetched["name"] == "orders_daily"
    assert fetched["source"] == {
        "type": "local",
        "path": str(stack.landing),
        "file_pattern": "**/*.csv",
        "exclude_pattern": None,
        "options": {},
        "credentials": {},
    }
    assert fetched["destination"]["table"] == "orders"
    assert fetched["schedule"]["timezone"] == "Europe/Berlin"
    assert fetched["created_by"].startswith("key:")
    assert fetched["metadata"] == {
        "next_run_time": None,
        "schedule_description": "Every day at 02:00 (Europe/Berlin)",
        "last_run_id": None,
        "last_run_time": None,
        "last_run_status": None,
        "schema_version": None,
        "estimated_monthly_cost": None,
        "backlog_files": 0,
        "health": "draft",
        "active_alerts": [],
        "current_run": None,
    }


async def test_create_active_has_a_next_run_time_from_its_schedule(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(
        headers,
        activate=True,
        schedule={"frequency": "cron", "cron_expression": "30 2 * * *", "timezone": "UTC"},
    )

    assert created["status"] == "active"
    assert created["metadata"]["next_run_time"].endswith("T02:30:00Z")


async def test_list_filters_sorts_and_paginates(stack: ApiStack) -> None:
    headers = await stack.tenant()
    names = ["Alpha_sales", "beta_SALES", "gamma_stock", "delta_sales", "epsilon_stock"]
    ids = {
        name: (await stack.create(headers, name=name, activate=name.startswith(("gamma", "delta"))))["id"]
        for name in names
    }

    seen, cursor = [], None
    while True:
        params = {"limit": 2, "sort": "name"} | ({"cursor": cursor} if cursor else {})
        page = (await stack.client.get(BASE, params=params, headers=headers)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    newest_first = (await stack.client.get(BASE, headers=headers)).json()["items"]
    active = (await stack.client.get(BASE, params={"status": "active"}, headers=headers)).json()["items"]
    sales = (await stack.client.get(BASE, params={"q": "SALES", "sort": "-name"}, headers=headers)).json()
    s3 = (await stack.client.get(BASE, params={"source_type": "s3"}, headers=headers)).json()

    assert seen == sorted(names)
    assert [item["id"] for item in newest_first] == [ids[name] for name in reversed(names)]
    assert {item["name"] for item in active} == {"gamma_stock", "delta_sales"}
    assert [item["name"] for item in sales["items"]] == ["delta_sales", "beta_SALES", "Alpha_sales"]
    assert s3 == {"items": [], "next_cursor": None}
    bad_sort = await stack.client.get(BASE, params={"sort": "size"}, headers=headers)
    assert problem(bad_sort, 422)["errors"][0]["field"] == "sort"
    bad_cursor = await stack.client.get(BASE, params={"cursor": "garbage"}, headers=headers)
    assert problem(bad_cursor, 422)["errors"][0]["field"] == "cursor"


async def test_update_changes_allowed_sections_and_refuses_frozen_ones_after_draft(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers, activate=True)
    path = f"{BASE}/{created['id']}"

    updated = await stack.client.put(
        path, json={"name": "renamed", "schedule": {"frequency": "hourly", "time": ":15"}}, headers=headers
    )
    frozen = await stack.client.put(
        path, json={"destination": {"database": "sales", "table": "other"}}, headers=headers
    )
    invalid = await stack.client.put(
        path, json={"schedule": {"frequency": "daily", "time": "25:00"}}, headers=headers
    )

    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "renamed"
    assert updated.json()["schedule"]["frequency"] == "hourly"
    assert updated.json()["version"] > created["version"]
    assert updated.json()["metadata"]["next_run_time"].endswith(":15:00Z")
    assert "destination cannot change" in problem(frozen, 409)["detail"]
    assert problem(invalid, 422)["errors"][0]["field"] == "schedule.time"
    current = (await stack.client.get(path, headers=headers)).json()
    assert current["destination"]["table"] == "orders"
    assert current["name"] == "renamed"


async def test_a_draft_may_change_its_destination(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers)

    response = await stack.client.put(
        f"{BASE}/{created['id']}",
        headers=headers,
        json={"destination": {"database": "sales", "table": "orders_v2"}},
    )

    assert response.status_code == 200, response.text
    assert response.json()["destination"]["table"] == "orders_v2"


async def test_transitions_follow_the_state_machine(stack: ApiStack) -> None:
    headers = await stack.tenant()
    path = f"{BASE}/{(await stack.create(headers))['id']}"

    pause_draft = await stack.client.post(f"{path}/pause", headers=headers)
    resume_draft = await stack.client.post(f"{path}/resume", headers=headers)
    activated = await stack.client.post(f"{path}/activate", headers=headers)
    activate_again = await stack.client.post(f"{path}/activate", headers=headers)
    paused = await stack.client.post(f"{path}/pause", headers=headers)
    paused_again = await stack.client.post(f"{path}/pause", headers=headers)
    resumed = await stack.client.post(f"{path}/resume", headers=headers)

    assert problem(pause_draft, 409)["detail"] == "cannot pause an ingestion that is draft; activate it first"
    assert "activate it instead" in problem(resume_draft, 409)["detail"]
    assert activated.json()["status"] == "active"
    assert "already active" in problem(activate_again, 409)["detail"]
    assert paused.json()["status"] == "paused"
    assert paused.json()["metadata"]["next_run_time"] is None
    assert "already paused" in problem(paused_again, 409)["detail"]
    assert resumed.json()["status"] == "active"
    assert (await stack.client.get(path, headers=headers)).json()["status"] == "active"


async def test_delete_makes_the_ingestion_disappear(stack: ApiStack) -> None:
    headers = await stack.tenant()
    kept = await stack.create(headers, name="kept")
    gone = await stack.create(headers, name="gone", activate=True)
    path = f"{BASE}/{gone['id']}"

    deleted = await stack.client.delete(path, params={"delete_table": "false"}, headers=headers)

    assert deleted.status_code == 204
    assert deleted.content == b""
    problem(await stack.client.get(path, headers=headers), 404)
    problem(await stack.client.delete(path, headers=headers), 404)
    problem(await stack.client.post(f"{path}/run", headers=headers), 404)
    problem(await stack.client.post(f"{path}/resume", headers=headers), 404)
    listed = (await stack.client.get(BASE, headers=headers)).json()["items"]
    assert [item["id"] for item in listed] == [kept["id"]]


async def test_run_now_is_accepted_and_the_run_appears_queued(stack: ApiStack) -> None:
    headers = await stack.tenant()
    path = f"{BASE}/{(await stack.create(headers))['id']}"

    accepted = await stack.client.post(f"{path}/run", headers=headers)

    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert accepted.json() == {"run_id": run_id, "status": "accepted"}
    runs = (await stack.client.get(f"{path}/runs", headers=headers)).json()
    assert [(r["id"], r["status"], r["trigger"]) for r in runs["items"]] == [(run_id, "queued", "manual")]
    assert runs["next_cursor"] is None
    run = (await stack.client.get(f"{path}/runs/{run_id}", headers=headers)).json()
    assert run["status"] == "queued"
    assert run["files"] == []
    assert run["cost"] == {"estimated": None, "actual": None, "currency": "USD"}
    assert run["schema_version"] is None
    problem(await stack.client.get(f"{path}/runs/run_doesnotexist00", headers=headers), 404)
    assert (await stack.client.get(f"{path}/files", headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_runs_paginate_newest_first(stack: ApiStack) -> None:
    headers = await stack.tenant()
    path = f"{BASE}/{(await stack.create(headers))['id']}"
    run_ids = [(await stack.client.post(f"{path}/run", headers=headers)).json()["run_id"] for _ in range(3)]

    first = (await stack.client.get(f"{path}/runs", params={"limit": 2}, headers=headers)).json()
    second = (
        await stack.client.get(
            f"{path}/runs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()

    assert [r["id"] for r in first["items"] + second["items"]] == list(reversed(run_ids))
    assert second["next_cursor"] is None
    problem(await stack.client.get(f"{path}/runs", params={"limit": 501}, headers=headers), 422)
