"""Catalog registry through the API (issue 11, ADR 0007): CRUD, write-only credentials, validation, tenants.

The test-connection cases run the loader in-process against the session's real Iceberg REST
catalog server (``rest_catalog_server``), whose warehouse is a bucket of the moto S3 server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autoloader_cli.servers import free_port
from autoloader_loader.app import body as loader_body
from tests.catalog_env import REGION, RestCatalogServer
from tests.integration.api_harness import ApiStack, api_stack, problem
from tests.integration.test_api_clusters import _stream_bytes
from tests.support import running

pytestmark = pytest.mark.integration

BASE = "/api/v1/catalogs"
SECRET = "oauth-client-secret-0123456789abcdef"


def rest_body(server: RestCatalogServer | None = None, **overrides: Any) -> dict[str, Any]:
    """A REST registration (OAuth2 client credentials, the warehouse's S3 settings); a fake one without a server."""
    s3 = server.s3 if server else None
    body: dict[str, Any] = {
        "name": "rest_catalog",
        "type": "rest",
        "uri": server.uri if server else "https://catalog.internal/api/catalog",
        "warehouse": server.warehouse if server else "s3://lake/warehouse",
        "properties": {
            "s3.endpoint": s3.endpoint_url if s3 else "https://s3.internal",
            "s3.region": REGION,
            "s3.path-style-access": "true",
        },
        "credentials": {
            "client_id": server.client_id if server else "autoloader",
            "client_secret": server.client_secret if server else SECRET,
            **(
                {
                    "access_key_id": s3.credentials["access_key_id"],
                    "secret_access_key": s3.credentials["secret_access_key"],
                }
                if s3
                else {}
            ),
        },
    }
    body.update(overrides)
    return body


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running_stack:
        yield running_stack


async def _create(stack: ApiStack, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await stack.client.post(BASE, json=rest_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_catalog_is_registered_read_changed_and_removed_with_its_credentials_masked(stack: ApiStack) -> None:
    headers = await stack.tenant()

    created = await _create(stack, headers)
    listed = (await stack.client.get(BASE, headers=headers)).json()
    one = (await stack.client.get(f"{BASE}/{created['id']}", headers=headers)).json()

    assert created["credentials"] == {"client_id": "********", "client_secret": "********"}
    assert (created["name"], created["type"], created["ingestion_count"]) == ("rest_catalog", "rest", 0)
    assert created["properties"]["s3.region"] == REGION
    assert listed["items"] == [one]
    assert listed["next_cursor"] is None
    assert one == created

    unchanged = await stack.client.put(
        f"{BASE}/{created['id']}",
        json={"credentials": {"client_id": "********", "client_secret": "********"}, "warehouse": created["warehouse"]},
        headers=headers,
    )
    rotated = await stack.client.put(
        f"{BASE}/{created['id']}",
        json={"credentials": {"client_id": "********", "client_secret": "rotated-secret-9876543210"}},
        headers=headers,
    )
    moved = await stack.client.put(
        f"{BASE}/{created['id']}", json={"properties": {"s3.region": "eu-west-1"}}, headers=headers
    )

    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == created["version"]
    assert rotated.status_code == 200
    assert rotated.json()["version"] > created["version"]
    assert rotated.json()["credentials"] == {"client_id": "********", "client_secret": "********"}
    assert moved.json()["properties"] == {"s3.region": "eu-west-1"}
    assert moved.json()["credentials"] == rotated.json()["credentials"]  # other fields keep the credentials

    removed = await stack.client.delete(f"{BASE}/{created['id']}", headers=headers)
    gone = await stack.client.get(f"{BASE}/{created['id']}", headers=headers)
    empty = (await stack.client.get(BASE, headers=headers)).json()
    again = await _create(stack, headers, credentials={"token": "a-bearer-token-abcdef0123456789"})

    assert removed.status_code == 204
    assert problem(gone, 404)["detail"] == f"catalog {created['id']!r} not found"
    assert empty["items"] == []
    assert again["id"] == created["id"]  # the id is the tenant's and the name's, registered again
    assert again["credentials"] == {"token": "********"}
    stored = await _stream_bytes(stack)
    for secret in (SECRET, "rotated-secret-9876543210", "a-bearer-token-abcdef0123456789"):
        assert secret.encode() not in stored, "a credential reached the event log"


async def test_credentials_can_be_removed_and_a_mask_is_never_stored(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await _create(stack, headers)

    masked_new = await stack.client.post(
        BASE, json=rest_body(name="other", credentials={"token": "********"}), headers=headers
    )
    cleared = await stack.client.put(f"{BASE}/{created['id']}", json={"credentials": None}, headers=headers)
    nothing_to_keep = await stack.client.put(
        f"{BASE}/{created['id']}", json={"credentials": {"token": "********"}}, headers=headers
    )

    assert problem(masked_new, 422)["errors"] == [
        {"field": "credentials.token", "message": "token is the mask '********'; send the value itself"}
    ]
    assert cleared.status_code == 200
    assert cleared.json()["credentials"] is None
    assert problem(nothing_to_keep, 422)["errors"][0]["field"] == "credentials.token"


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"name": "my-catalog"}, "name", "letters, digits and underscores"),
        ({"type": "nessie"}, "type", "use one of rest, glue, hive, sql"),
        ({"uri": None}, "uri", "a rest catalog needs uri"),
        ({"uri": "ftp://catalog.internal"}, "uri", "is not a rest catalog address"),
        ({"type": "sql", "uri": "sqlite:////tmp/c.db", "credentials": None}, "uri", "is not a sql catalog address"),
        ({"warehouse": "file:///etc/autoloader"}, "warehouse", "the loader's local disk is not offered"),
        ({"warehouse": "/var/lib/data"}, "warehouse", "is not a storage location"),
        ({"properties": {"s3.secret-access-key": "x"}}, "properties.s3.secret-access-key", "looks like a secret"),
        ({"properties": {"uri": "https://x"}}, "properties.uri", "send it as uri"),
        ({"credentials": {"password": "x"}}, "credentials.password", "unknown credential field"),
        ({"credentials": {"client_id": "a"}}, "credentials.client_secret", "client_secret is missing"),
        (
            {"credentials": {"token": "t", "client_id": "a", "client_secret": "b"}},
            "credentials",
            "either token",
        ),
        ({"credentials": {"token": ""}}, "credentials.token", "non-empty string"),
        (
            {"type": "hive", "uri": "thrift://metastore:9083", "credentials": {"token": "t"}},
            "credentials.token",
            "token is for REST catalogs",
        ),
    ],
)
async def test_an_invalid_registration_says_what_to_fix_and_stores_nothing(
    stack: ApiStack, overrides: dict[str, Any], field: str, says: str
) -> None:
    headers = await stack.tenant()

    response = await stack.client.post(BASE, json=rest_body(**overrides), headers=headers)

    errors = problem(response, 422)["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert says in errors[0]["message"]
    assert (await stack.client.get(BASE, headers=headers)).json()["items"] == []


async def test_unknown_fields_and_a_name_change_are_refused(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await _create(stack, headers)

    typo = await stack.client.post(BASE, json={**rest_body(), "warehous": "s3://x/"}, headers=headers)
    renamed = await stack.client.put(f"{BASE}/{created['id']}", json={"name": "renamed"}, headers=headers)

    assert problem(typo, 422)["errors"][0]["field"] == "warehous"
    assert problem(renamed, 422)["errors"] == [
        {"field": "name", "message": "name cannot change (it is 'rest_catalog'); register a new catalog"}
    ]


async def test_a_name_is_registered_once_and_not_while_ingestions_write_there(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await _create(stack, headers)
    await stack.create(headers, destination={"catalog": "lake", "database": "sales", "table": "orders"})
    user = await stack.create(headers, destination={"catalog": "rest_catalog", "database": "sales", "table": "t"})

    twice = await stack.client.post(BASE, json=rest_body(), headers=headers)
    over_builtin = await stack.client.post(BASE, json=rest_body(name="lake"), headers=headers)
    in_use = await stack.client.delete(f"{BASE}/{created['id']}", headers=headers)
    counted = (await stack.client.get(f"{BASE}/{created['id']}", headers=headers)).json()

    assert problem(twice, 409)["detail"].startswith("catalog 'rest_catalog' is registered already")
    assert problem(over_builtin, 409)["detail"].startswith("1 ingestion(s) write into catalog 'lake'")
    assert problem(in_use, 409)["detail"].startswith("1 ingestion(s) write into catalog 'rest_catalog'")
    assert counted["ingestion_count"] == 1

    assert (await stack.client.delete(f"/api/v1/ingestions/{user['id']}", headers=headers)).status_code == 204
    assert (await stack.client.delete(f"{BASE}/{created['id']}", headers=headers)).status_code == 204


async def test_tenants_see_only_their_own_catalogs(stack: ApiStack) -> None:
    alice, bob = await stack.tenant(), await stack.tenant()
    theirs = await _create(stack, alice)

    reads = [
        await stack.client.get(f"{BASE}/{theirs['id']}", headers=bob),
        await stack.client.put(f"{BASE}/{theirs['id']}", json={"warehouse": "s3://bob/"}, headers=bob),
        await stack.client.delete(f"{BASE}/{theirs['id']}", headers=bob),
        await stack.client.post(f"{BASE}/{theirs['id']}/test-connection", headers=bob),
    ]
    own = await _create(stack, bob)  # the same name is Bob's own catalog

    assert [r.status_code for r in reads] == [404, 404, 404, 404]
    assert (await stack.client.get(BASE, headers=bob)).json()["items"] == [own]
    assert own["id"] != theirs["id"]
    assert (await stack.client.get(f"{BASE}/{theirs['id']}", headers=alice)).json()["version"] == theirs["version"]
    assert (await stack.client.get(BASE)).status_code == 401


async def test_test_connection_reports_what_works_and_what_failed(
    stack: ApiStack, rest_catalog_server: RestCatalogServer
) -> None:
    headers = await stack.tenant()
    server = rest_catalog_server
    good = await _create(stack, headers, **rest_body(server))
    wrong = await _create(
        stack, headers, **rest_body(server, name="wrong", credentials={"client_id": server.client_id,
                                                                        "client_secret": "not-the-secret-42"})
    )
    nowhere = await _create(stack, headers, **rest_body(server, name="nowhere", uri=f"http://127.0.0.1:{free_port()}"))
    no_bucket = await _create(stack, headers, **rest_body(server, name="no_bucket", warehouse="s3://missing-bucket-x1/"))

    async def check(catalog: dict[str, Any]) -> dict[str, Any]:
        response = await stack.client.post(f"{BASE}/{catalog['id']}/test-connection", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async with running(stack.settings, loader=loader_body):
        ok = await check(good)
        denied = await check(wrong)
        down = await check(nowhere)
        missing = await check(no_bucket)

    assert (ok["reachable"], ok["authenticated"], ok["warehouse_found"], ok["error_kind"]) == (True, True, True, None)
    assert isinstance(ok["namespaces"], list)
    assert ok["round_trip_ms"] >= 0
    assert ok["message"].startswith("connected: ")
    assert (denied["reachable"], denied["authenticated"], denied["error_kind"]) == (True, False, "unauthorized")
    assert "refused the credentials" in denied["message"]
    assert "wrong" in denied["message"]
    assert "not-the-secret-42" not in denied["message"]
    assert (down["reachable"], down["error_kind"]) == (False, "unreachable")
    assert "is unreachable" in down["message"]
    assert "127.0.0.1" in down["message"]
    assert (missing["warehouse_found"], missing["error_kind"]) == (False, "warehouse_missing")
    assert "'missing-bucket-x1' does not exist" in missing["message"]
