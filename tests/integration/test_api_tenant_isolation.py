"""Tenant isolation over every route with an id in its path, enumerated from the app itself.

Tenant B asking for tenant A's resource must get exactly what it gets for an id that does not
exist: 404, the same problem type, title and detail (ids aside), nothing counted or named.
A new route with an id is covered without touching this file; one that needs a body to reach
its lookup fails here until ``BODIES`` has one. The main lookups are timed too: another tenant's
id must not take measurably longer (or shorter) than a missing one.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from autoloader_api.app import create_app
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings
from tests.integration.api_harness import ApiStack, api_stack

pytestmark = pytest.mark.integration

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/ingestions/{ingestion_id}"): {"name": "stolen"},
    ("POST", "/api/v1/ingestions/{ingestion_id}/refresh/full"): {"confirm": True},
    ("POST", "/api/v1/ingestions/{ingestion_id}/refresh/new-only"): {"confirm": True},
    ("POST", "/api/v1/ingestions/{ingestion_id}/reset"): {"confirm": True},
    ("POST", "/api/v1/ingestions/{ingestion_id}/backfill"): {
        "from": "2024-01-01T00:00:00Z",
        "to": "2024-02-01T00:00:00Z",
        "confirm": True,
    },
    ("POST", "/api/v1/ingestions/{ingestion_id}/schema-versions/{version}/resolve"): {"action": "ignore"},
    ("PUT", "/api/v1/clusters/{cluster_id}"): {"name": "stolen"},
    ("PUT", "/api/v1/catalogs/{catalog_id}"): {"warehouse": "s3://stolen/"},
}
"""Valid bodies, so a request reaches the handler's lookup instead of stopping at body validation."""
PARAMS: dict[tuple[str, str], dict[str, str]] = {
    ("DELETE", "/api/v1/ingestions/{ingestion_id}/processed-files"): {"confirm": "true"},
}


def id_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the tenant API with a path parameter, from the app's own routes."""
    app = create_app(Settings(), bus=None, pool=None)  # type: ignore[arg-type]
    found = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "{" not in route.path_format:
            continue
        if not route.path_format.startswith("/api/v1/") or route.path_format.startswith("/api/v1/admin/"):
            continue
        found.update((method, route.path_format) for method in route.methods - {"OPTIONS", "HEAD"})
    return sorted(found)


ROUTES = id_routes()


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def _resources_of_a(stack: ApiStack, alice: dict[str, str]) -> dict[str, str]:
    ingestion = await stack.create(alice)
    run = await stack.client.post(f"/api/v1/ingestions/{ingestion['id']}/run", headers=alice)
    assert run.status_code == 202, run.text
    cluster = await stack.client.post(
        "/api/v1/clusters", json={"name": "a_cluster", "kind": "spark_connect", "url": "sc://a:15002"}, headers=alice
    )
    assert cluster.status_code == 201, cluster.text
    a_catalog = {"name": "a_catalog", "type": "rest", "uri": "https://a.example/catalog"}
    catalog = await stack.client.post("/api/v1/catalogs", json=a_catalog, headers=alice)
    assert catalog.status_code == 201, catalog.text
    return {
        "ingestion_id": ingestion["id"],
        "run_id": run.json()["run_id"],
        "cluster_id": cluster.json()["id"],
        "catalog_id": catalog.json()["id"],
        "version": "1",
    }


def _missing() -> dict[str, str]:
    return {
        "ingestion_id": new_id("ing"),
        "run_id": new_id("run"),
        "cluster_id": new_id("clu"),
        "catalog_id": new_id("cat"),
        "version": "1",
    }


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def _shape(response: httpx.Response, ids: dict[str, str]) -> dict[str, Any]:
    """The answer with the ids it was asked about replaced, so two answers compare."""
    text = response.text
    for name, value in ids.items():
        if name != "version":
            text = text.replace(value, f"<{name}>")
    return {"status": response.status_code, "content-type": response.headers.get("content-type"), "body": text}


def test_every_route_with_an_id_is_enumerated() -> None:
    paths = {path for _, path in ROUTES}
    assert "/api/v1/ingestions/{ingestion_id}/runs/{run_id}" in paths
    assert "/api/v1/clusters/{cluster_id}" in paths
    assert len(ROUTES) >= 25, ROUTES


async def test_another_tenants_ids_answer_like_ids_that_do_not_exist(stack: ApiStack) -> None:
    alice, bob = await stack.tenant("alice"), await stack.tenant("bob")
    theirs = await _resources_of_a(stack, alice)
    differences = {}
    for method, path in ROUTES:
        missing = _missing()
        options: dict[str, Any] = {"headers": bob, "params": PARAMS.get((method, path))}
        if (method, path) in BODIES:
            options["json"] = BODIES[(method, path)]
        as_theirs = await stack.client.request(method, _url(path, theirs), **options)
        as_missing = await stack.client.request(method, _url(path, missing), **options)
        got, expected = _shape(as_theirs, theirs), _shape(as_missing, missing)
        if got != expected or got["status"] != 404:
            differences[f"{method} {path}"] = {"other tenant's": got, "missing": expected}

    assert differences == {}
    # Nothing of A's changed: its ingestion is still a draft with its name, its cluster still there.
    still = (await stack.client.get(f"/api/v1/ingestions/{theirs['ingestion_id']}", headers=alice)).json()
    assert (still["status"], still["name"].startswith("orders")) == ("draft", True)
    cluster = await stack.client.get(f"/api/v1/clusters/{theirs['cluster_id']}", headers=alice)
    assert cluster.json()["name"] == "a_cluster"
    catalog = await stack.client.get(f"/api/v1/catalogs/{theirs['catalog_id']}", headers=alice)
    assert (catalog.json()["name"], catalog.json()["warehouse"]) == ("a_catalog", None)


async def test_filters_by_another_tenants_id_find_nothing(stack: ApiStack) -> None:
    alice, bob = await stack.tenant("alice"), await stack.tenant("bob")
    theirs = await _resources_of_a(stack, alice)

    alerts = await stack.client.get("/api/v1/alerts", params={"ingestion_id": theirs["ingestion_id"]}, headers=bob)
    missing = await stack.client.get("/api/v1/alerts", params={"ingestion_id": new_id("ing")}, headers=bob)

    assert alerts.status_code == missing.status_code == 200
    assert alerts.json() == missing.json() == {"items": [], "next_cursor": None}


TIMED_ROUTES = (
    "/api/v1/ingestions/{ingestion_id}",
    "/api/v1/ingestions/{ingestion_id}/runs/{run_id}",
    "/api/v1/ingestions/{ingestion_id}/files",
    "/api/v1/clusters/{cluster_id}",
    "/api/v1/catalogs/{catalog_id}",
)
TIMING_SAMPLES = 31
TIMING_RATIO_BOUND = 2.0
"""Medians of interleaved samples: a lookup that loaded A's row before refusing it (a join, a
second query, a permission check after the fetch) would show as a steady gap; scheduling noise
hits both sides alike."""


async def _elapsed(stack: ApiStack, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = await stack.client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 404, answer.text
    return elapsed


async def test_another_tenants_ids_take_as_long_as_ids_that_do_not_exist(stack: ApiStack) -> None:
    alice, bob = await stack.tenant("alice"), await stack.tenant("bob")
    theirs = await _resources_of_a(stack, alice)
    ratios = {}
    for path in TIMED_ROUTES:
        as_theirs, as_missing = [], []
        await _elapsed(stack, _url(path, theirs), bob)  # warm both paths before timing
        await _elapsed(stack, _url(path, _missing()), bob)
        for _ in range(TIMING_SAMPLES):
            as_theirs.append(await _elapsed(stack, _url(path, theirs), bob))
            as_missing.append(await _elapsed(stack, _url(path, _missing()), bob))
        ratios[path] = statistics.median(as_theirs) / statistics.median(as_missing)

    out_of_bounds = {p: r for p, r in ratios.items() if not 1 / TIMING_RATIO_BOUND <= r <= TIMING_RATIO_BOUND}
    assert out_of_bounds == {}, ratios
