"""Cluster registry through the API: CRUD, token masking, the embedded default, use by ingestions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_cli.servers import free_port
from autoloader_contracts.subjects import ALL_EVENTS
from autoloader_loader.app import body as loader_body
from tests.integration.api_harness import ApiStack, api_stack, problem
from tests.support import running

pytestmark = pytest.mark.integration

BASE = "/api/v1/clusters"
TOKEN = "dapi-super-secret-token-0123456789"
SPARK = {
    "name": "prod-spark",
    "kind": "spark_connect",
    "url": "sc://spark.internal:15002",
    "token": TOKEN,
    "commit_strategy": "staged",
    "pricing": {"nodes": 4, "units_per_node_hour": 0.75, "price_per_unit": 0.55, "currency": "EUR"},
    "options": {"spark.sql.shuffle.partitions": "8"},
}


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def _create(stack: ApiStack, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await stack.client.post(BASE, json={**SPARK, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _stream_bytes(stack: ApiStack) -> bytes:
    """Every stored event's raw bytes, concatenated."""
    found, seq = [], 1
    while True:
        try:
            raw = await stack.bus.js.get_msg(stack.bus.stream, seq=seq, subject=ALL_EVENTS, next=True)
        except JsNotFound:
            return b"".join(found)
        assert raw.data is not None
        assert raw.seq is not None
        found.append(raw.data)
        seq = raw.seq + 1


async def test_every_tenant_lists_its_embedded_cluster_first(stack: ApiStack) -> None:
    headers = await stack.tenant()

    first, again = await asyncio.gather(
        stack.client.get(BASE, headers=headers), stack.client.get(BASE, headers=headers)
    )

    assert first.status_code == again.status_code == 200
    items = first.json()["items"]
    assert len(items) == 1
    embedded = items[0]
    assert embedded["kind"] == "embedded"
    assert embedded["name"] == "embedded"
    assert embedded["url"] is None
    assert embedded["token"] is None
    assert embedded["catalog"] == "lake"
    assert embedded["ingestion_count"] == 0
    assert first.json()["next_cursor"] is None
    assert again.json()["items"] == items
    test = await stack.client.post(f"{BASE}/{embedded['id']}/test-connection", headers=headers)
    assert test.status_code == 200
    assert test.json()["reachable"] is True
    assert test.json()["kind"] == "embedded"
    deleted = problem(await stack.client.delete(f"{BASE}/{embedded['id']}", headers=headers), 409)
    assert "embedded cluster cannot be deleted" in deleted["detail"]


async def test_crud_masks_the_token_and_never_stores_it_in_events(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await _create(stack, headers)

    assert created["token"] == "********"
    assert created["url"] == "sc://spark.internal:15002"
    assert created["pricing"] == SPARK["pricing"]
    assert created["commit_strategy"] == "staged"
    fetched = (await stack.client.get(f"{BASE}/{created['id']}", headers=headers)).json()
    assert fetched == created
    listed = (await stack.client.get(BASE, headers=headers)).json()["items"]
    assert [c["kind"] for c in listed] == ["embedded", "spark_connect"]

    renamed = await stack.client.put(
        f"{BASE}/{created['id']}", json={"name": "spark-2", "token": "********"}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "spark-2"
    assert renamed.json()["token"] == "********"
    rotated = await stack.client.put(f"{BASE}/{created['id']}", json={"token": "rotated-token-42"}, headers=headers)
    assert rotated.status_code == 200
    assert rotated.json()["version"] > renamed.json()["version"]
    cleared = await stack.client.put(f"{BASE}/{created['id']}", json={"token": None}, headers=headers)
    assert cleared.json()["token"] is None

    stored = await _stream_bytes(stack)
    assert b'"type":"cluster.updated.v1"' in stored
    assert b'"token_ref":"cred_' in stored
    assert TOKEN.encode() not in stored
    assert b"rotated-token-42" not in stored
    assert (await stack.client.delete(f"{BASE}/{created['id']}", headers=headers)).status_code == 204
    problem(await stack.client.get(f"{BASE}/{created['id']}", headers=headers), 404)


async def test_ingestions_default_to_the_embedded_cluster_and_must_name_an_existing_one(stack: ApiStack) -> None:
    headers = await stack.tenant()
    tenant_embedded = (await stack.client.get(BASE, headers=headers)).json()["items"][0]["id"]

    default = await stack.create(headers)
    unknown = await stack.client.post(
        "/api/v1/ingestions", json=stack.ingestion_body(cluster_id="clu_0000000000doesnotexist"), headers=headers
    )
    malformed = await stack.client.post(
        "/api/v1/ingestions", json=stack.ingestion_body(cluster_id="not an id"), headers=headers
    )

    assert default["cluster_id"] == tenant_embedded
    for response in (unknown, malformed):
        body = problem(response, 422)
        assert [e["field"] for e in body["errors"]] == ["cluster_id"]
        assert "does not exist" in body["errors"][0]["message"]
    embedded = (await stack.client.get(f"{BASE}/{tenant_embedded}", headers=headers)).json()
    assert embedded["ingestion_count"] == 1


async def test_a_used_cluster_cannot_be_deleted_until_its_ingestions_are_gone(stack: ApiStack) -> None:
    headers = await stack.tenant()
    spark = await _create(stack, headers)
    first = await stack.create(headers, cluster_id=spark["id"])
    await stack.create(headers, cluster_id=spark["id"])

    refused = problem(await stack.client.delete(f"{BASE}/{spark['id']}", headers=headers), 409)
    assert "used by 2 ingestion(s)" in refused["detail"]
    assert (await stack.client.get(f"{BASE}/{spark['id']}", headers=headers)).json()["ingestion_count"] == 2

    await stack.client.delete(f"/api/v1/ingestions/{first['id']}", headers=headers)
    refused = problem(await stack.client.delete(f"{BASE}/{spark['id']}", headers=headers), 409)
    assert "used by 1 ingestion(s)" in refused["detail"]


async def test_another_tenants_cluster_is_not_found(stack: ApiStack) -> None:
    owner, other = await stack.tenant(), await stack.tenant()
    spark = await _create(stack, owner)
    owner_embedded = (await stack.client.get(BASE, headers=owner)).json()["items"][0]["id"]

    for method in ("get", "delete"):
        problem(await getattr(stack.client, method)(f"{BASE}/{spark['id']}", headers=other), 404)
    problem(await stack.client.put(f"{BASE}/{spark['id']}", json={"name": "x"}, headers=other), 404)
    problem(await stack.client.post(f"{BASE}/{spark['id']}/test-connection", headers=other), 404)
    used = await stack.client.post(
        "/api/v1/ingestions", json=stack.ingestion_body(cluster_id=spark["id"]), headers=other
    )
    assert problem(used, 422)["errors"][0]["field"] == "cluster_id"
    problem(await stack.client.get(f"{BASE}/{owner_embedded}", headers=other), 404)
    other_items = (await stack.client.get(BASE, headers=other)).json()["items"]
    assert [c["kind"] for c in other_items] == ["embedded"]
    assert other_items[0]["id"] != owner_embedded


@pytest.mark.filterwarnings("ignore:\\[RETRIES_EXCEEDED\\]:UserWarning")  # pyspark's bounded retries ran out
async def test_spark_connect_test_connection_probes_the_cluster_through_the_loader(
    stack: ApiStack, spark_connect_url: str, spark_auth_proxy: tuple[str, str]
) -> None:
    headers = await stack.tenant()
    proxy_url, proxy_token = spark_auth_proxy
    direct = await _create(
        stack, headers, url=spark_connect_url, token=None, commit_strategy="native", catalog="spark_catalog"
    )
    good = await _create(stack, headers, name="good-token", url=proxy_url, token=proxy_token)
    bad = await _create(stack, headers, name="bad-token", url=proxy_url, token="not-the-token")
    refused = await _create(stack, headers, name="refused", url=f"sc://127.0.0.1:{free_port()}", token=None)

    async def check(cluster: dict[str, Any]) -> dict[str, Any]:
        response = await stack.client.post(f"{BASE}/{cluster['id']}/test-connection", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async with running(stack.settings, loader=loader_body):
        ok = await check(direct)
        assert (ok["reachable"], ok["authenticated"], ok["kind"], ok["error_kind"]) == (
            True,
            True,
            "spark_connect",
            None,
        )
        assert ok["spark_version"].startswith("4.2.")
        assert "spark_catalog" in ok["catalogs"]
        assert ok["catalog_found"] is True
        assert ok["round_trip_ms"] > 0
        assert ok["message"].startswith(f"connected to spark {ok['spark_version']}")

        with_token = await check(good)  # the stored token is decrypted and sent
        assert (with_token["reachable"], with_token["authenticated"], with_token["error_kind"]) == (True, True, None)
        assert with_token["catalog_found"] is None  # staged: the catalog is not Spark's

        denied = await check(bad)
        assert (denied["reachable"], denied["authenticated"], denied["error_kind"]) == (True, False, "unauthenticated")
        assert "refused the token" in denied["message"]
        assert "not-the-token" not in denied["message"]
        assert denied["spark_version"] is None
        assert denied["catalogs"] is None

        down = await check(refused)
        assert (down["reachable"], down["error_kind"]) == (False, "refused")
        assert down["message"].startswith("nothing answers at 127.0.0.1:")


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"url": "http://spark:15002"}, "url", "sc://host:port"),
        ({"url": None}, "url", "needs url"),
        ({"url": "sc://spark:99999"}, "url", "out of range"),
        ({"kind": "databricks"}, "kind", "use one of embedded, spark_connect"),
        ({"kind": "embedded", "url": None}, "kind", "already has its embedded cluster"),
        ({"commit_strategy": "magic"}, "commit_strategy", "use one of staged, native"),
        ({"catalog": "my-lake"}, "catalog", "not a valid catalog name"),
        ({"name": " "}, "name", "must not be empty"),
        ({"pricing": {"nodes": 0}}, "pricing.nodes", "1 or more"),
        ({"pricing": {"units_per_node_hour": -1}}, "pricing.units_per_node_hour", "0 or more"),
        ({"pricing": {"price_per_unit": -0.5}}, "pricing.price_per_unit", "0 or more"),
        ({"pricing": {"currency": "euro"}}, "pricing.currency", "ISO 4217"),
    ],
)
async def test_invalid_clusters_are_refused_naming_the_field(
    stack: ApiStack, overrides: dict[str, Any], field: str, fragment: str
) -> None:
    headers = await stack.tenant()

    body = problem(await stack.client.post(BASE, json={**SPARK, **overrides}, headers=headers), 422)

    assert field in [e["field"] for e in body["errors"]]
    message = next(e["message"] for e in body["errors"] if e["field"] == field)
    assert fragment in message
    assert [c["kind"] for c in (await stack.client.get(BASE, headers=headers)).json()["items"]] == ["embedded"]


async def test_update_validates_and_keeps_the_kind(stack: ApiStack) -> None:
    headers = await stack.tenant()
    spark = await _create(stack, headers)

    bad_url = problem(await stack.client.put(f"{BASE}/{spark['id']}", json={"url": "spark:1"}, headers=headers), 422)
    new_kind = problem(
        await stack.client.put(f"{BASE}/{spark['id']}", json={"kind": "embedded", "url": None}, headers=headers), 422
    )

    assert bad_url["errors"][0]["field"] == "url"
    assert "kind cannot change" in next(e["message"] for e in new_kind["errors"] if e["field"] == "kind")
    unchanged = (await stack.client.get(f"{BASE}/{spark['id']}", headers=headers)).json()
    assert unchanged == spark
