"""Abuse limits through HTTP: per-tenant rate limits (429 + Retry-After), body size (413), page sizes (422)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.api_harness import ApiStack, admin_headers, api_stack, problem

pytestmark = pytest.mark.integration


@pytest.fixture
async def limited(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    """A stack whose tenants may send bursts of 3 requests, then one every 5 seconds."""
    async with api_stack(
        nats_url=nats_url,
        database_url=database_url,
        data_dir=data_dir,
        rate_limit_per_second=0.2,
        rate_limit_burst=3,
        api_max_body_bytes=4096,
    ) as running:
        yield running


async def test_a_tenant_over_its_rate_gets_429_with_retry_after(limited: ApiStack) -> None:
    alice, bob = await limited.tenant("alice"), await limited.tenant("bob")

    granted = [(await limited.client.get("/api/v1/ingestions", headers=alice)).status_code for _ in range(3)]
    refused = await limited.client.get("/api/v1/ingestions", headers=alice)

    assert granted == [200, 200, 200]
    body = problem(refused, 429)
    assert body["type"] == "urn:autoloader:problem:too-many-requests"
    assert "0.2 requests per second" in body["detail"]
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 5
    assert f"retry in {retry_after} s" in body["detail"]
    # Another tenant has its own bucket; health probes and the admin API are not limited.
    assert (await limited.client.get("/api/v1/ingestions", headers=bob)).status_code == 200
    assert {(await limited.client.get("/health/live")).status_code for _ in range(10)} == {200}
    assert {(await limited.client.get("/api/v1/status", headers=admin_headers())).status_code for _ in range(5)} == {
        200
    }


async def test_a_body_over_the_size_limit_is_413_saying_the_limit(limited: ApiStack) -> None:
    alice = await limited.tenant("alice")
    body = limited.ingestion_body(name="x" * 5000)

    refused = await limited.client.post("/api/v1/ingestions", json=body, headers=alice)

    detail = problem(refused, 413)["detail"]
    assert "larger than 4096 bytes" in detail
    assert "AUTOLOADER_API_MAX_BODY_BYTES" in detail


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


BOUNDED = ("limit", "days", "sample_rows")


async def test_every_bounded_query_parameter_is_documented_and_enforced(stack: ApiStack) -> None:
    tenant = await stack.tenant()
    ingestion = await stack.create(tenant)
    schema = (await stack.client.get("/schema/openapi.json")).json()
    checked = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query" or parameter["name"] not in BOUNDED:
                    continue
                low, high = parameter["schema"].get("minimum"), parameter["schema"].get("maximum")
                assert (low, high) != (None, None), f"{method} {path}: document the range of {parameter['name']}"
                url = path.replace("{ingestion_id}", ingestion["id"])
                body = stack.ingestion_body() if method == "post" else None
                for bad in (int(low) - 1, int(high) + 1):
                    answer = await stack.client.request(
                        method.upper(), url, params={parameter["name"]: bad}, headers=tenant, json=body
                    )
                    errors = problem(answer, 422).get("errors", [])
                    expected = f"{parameter['name']} must be between {int(low)} and {int(high)}, got {bad}"
                    assert expected in [e["message"] for e in errors if e["field"] == parameter["name"]], (
                        method,
                        path,
                        answer.text,
                    )
                checked.append((method, path, parameter["name"]))

    assert len(checked) >= 10, checked
