"""Tenants, API keys, authentication, tenant isolation, health and status."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoloader_bus.deadletter import record_dead_letter, undecodable
from tests.integration.api_harness import ApiStack, admin_headers, api_stack, problem

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def test_admin_creates_tenant_and_key_is_stored_hashed(stack: ApiStack) -> None:
    response = await stack.client.post(
        "/api/v1/admin/tenants", json={"name": "acme"}, headers=admin_headers()
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "acme"
    assert body["tenant_id"].startswith("tnt_")
    assert body["api_key"].startswith("al_")
    assert len(body["api_key"]) > 40
    rows = await stack.pool.fetch(
        "SELECT k.key_hash, t.name FROM api.api_keys k JOIN api.tenants t ON t.id = k.tenant_id"
    )
    assert [(r["key_hash"], r["name"]) for r in rows] == [
        (hashlib.sha256(body["api_key"].encode()).hexdigest(), "acme")
    ]


async def test_admin_endpoint_refuses_missing_or_wrong_token_and_duplicate_names(stack: ApiStack) -> None:
    missing = await stack.client.post("/api/v1/admin/tenants", json={"name": "acme"})
    wrong = await stack.client.post(
        "/api/v1/admin/tenants", json={"name": "acme"}, headers={"Authorization": "Bearer nope"}
    )
    tenant_key = await stack.tenant("first")
    as_tenant = await stack.client.post("/api/v1/admin/tenants", json={"name": "acme"}, headers=tenant_key)
    duplicate = await stack.client.post(
        "/api/v1/admin/tenants", json={"name": "first"}, headers=admin_headers()
    )

    for response in (missing, wrong, as_tenant):
        assert "AUTOLOADER_ADMIN_TOKEN" in problem(response, 401)["detail"]
    assert "already exists" in problem(duplicate, 409)["detail"]
    assert await stack.pool.fetchval("SELECT count(*) FROM api.tenants") == 1


async def test_tenant_endpoints_need_a_valid_key(stack: ApiStack) -> None:
    missing = await stack.client.get("/api/v1/ingestions")
    invalid = await stack.client.get("/api/v1/ingestions", headers={"Authorization": "Bearer al_unknown"})
    admin_as_tenant = await stack.client.get("/api/v1/ingestions", headers=admin_headers())

    assert "missing API key" in problem(missing, 401)["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "invalid or revoked" in problem(invalid, 401)["detail"]
    problem(admin_as_tenant, 401)


async def test_another_tenants_ingestion_is_not_found(stack: ApiStack) -> None:
    alice, bob = await stack.tenant("alice"), await stack.tenant("bob")
    created = await stack.create(alice, name="alice_orders")
    path = f"/api/v1/ingestions/{created['id']}"

    assert (await stack.client.get(path, headers=alice)).status_code == 200
    problem(await stack.client.get(path, headers=bob), 404)
    problem(await stack.client.put(path, json={"name": "stolen"}, headers=bob), 404)
    problem(await stack.client.post(f"{path}/activate", headers=bob), 404)
    problem(await stack.client.post(f"{path}/run", headers=bob), 404)
    problem(await stack.client.get(f"{path}/runs", headers=bob), 404)
    problem(await stack.client.get(f"{path}/files", headers=bob), 404)
    problem(await stack.client.delete(path, headers=bob), 404)
    assert (await stack.client.get("/api/v1/ingestions", headers=bob)).json() == {
        "items": [],
        "next_cursor": None,
    }
    still = await stack.client.get(path, headers=alice)
    assert still.json()["name"] == "alice_orders"
    assert still.json()["status"] == "draft"


async def test_health_and_openapi_are_public(stack: ApiStack) -> None:
    live = await stack.client.get("/health/live")
    ready = await stack.client.get("/health/ready")
    openapi = await stack.client.get("/schema/openapi.json")

    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"nats": "ok", "postgres": "ok", "projector": "ok"}}
    assert openapi.status_code == 200
    paths = openapi.json()["paths"]
    assert "/api/v1/ingestions/{ingestion_id}/runs/{run_id}" in paths
    assert "/api/v1/admin/tenants" in paths


PUBLIC_PATHS = ("/health/",)


async def test_every_route_but_health_refuses_a_request_without_a_key(stack: ApiStack) -> None:
    paths = (await stack.client.get("/schema/openapi.json")).json()["paths"]
    routes = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in paths.items()
        if not path.startswith(PUBLIC_PATHS)
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]

    answers = {(m, p): (await stack.client.request(m.upper(), p, json={})).status_code for m, p in routes}

    assert len(routes) > 30  # the whole API, not an empty schema
    assert {route: code for route, code in answers.items() if code != 401} == {}


async def test_readiness_reports_postgres_down(stack: ApiStack) -> None:
    await stack.pool.close()  # the app's pool: PostgreSQL no longer answers it

    ready = await stack.client.get("/health/ready")

    assert ready.status_code == 503
    assert ready.json()["checks"]["nats"] == "ok"
    assert ready.json()["checks"]["postgres"].startswith("down")


async def test_status_lists_services_from_heartbeats(stack: ApiStack) -> None:
    tenant = await stack.tenant()
    # Host names and process ids are for operators: a tenant key or no key is refused.
    assert (await stack.client.get("/api/v1/status", headers=tenant)).status_code == 401
    assert (await stack.client.get("/api/v1/status")).status_code == 401
    headers = admin_headers()
    services: list[dict[str, object]] = []
    for _ in range(50):  # the projector publishes its first beat once it is ready
        services = (await stack.client.get("/api/v1/status", headers=headers)).json()["services"]
        if services:
            break
        await asyncio.sleep(0.1)

    assert [s["service"] for s in services] == ["projector"]
    beat = services[0]
    assert beat["status"] == "ready"
    assert 0 <= float(str(beat["age_seconds"])) < 5
    assert {"instance", "pid", "started_at", "last_heartbeat"} <= beat.keys()


async def test_status_lists_stuck_runs_and_dead_letters(stack: ApiStack) -> None:
    started = datetime.now(UTC) - timedelta(seconds=stack.settings.stuck_run_seconds + 60)
    # Read models are the projector's; a run row long in `running` stands for a run nothing finished.
    await stack.pool.execute(
        """INSERT INTO read.runs (id, tenant_id, ingestion_id, status, trigger, requested_at, started_at, requested_by)
           VALUES ('run_stuck', 'ten_a', 'ing_a', 'running', 'manual', $1, $1, 'test'),
                  ('run_fresh', 'ten_a', 'ing_b', 'running', 'manual', now(), now(), 'test')""",
        started,
    )
    letter = undecodable("projector", subject="autoloader.x.run.y.requested", seq=7, data=b"junk", error="bad")
    assert await record_dead_letter(stack.bus, letter)

    body = (await stack.client.get("/api/v1/status", headers=admin_headers())).json()

    assert [(r["run_id"], r["ingestion_id"]) for r in body["stuck_runs"]] == [("run_stuck", "ing_a")]
    assert body["stuck_runs"][0]["running_seconds"] >= stack.settings.stuck_run_seconds
    assert body["dead_letters"]["total"] == 1
    assert body["dead_letters"]["latest"][0]["kind"] == "undecodable"
    assert body["dead_letters"]["latest"][0]["stream_seq"] == 7
    assert "data" not in body["dead_letters"]["latest"][0]  # raw bytes stay out of the API
