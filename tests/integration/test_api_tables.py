"""The table endpoints ask the loader over NATS request/reply (here a stand-in responder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autoloader_bus.rpc import serve
from autoloader_contracts.subjects import rpc_subject
from autoloader_core.errors import FieldError, NotFoundError, ValidationFailed
from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

TABLE_INFO = {
    "identifier": "lake.sales.orders",
    "location": "file:///warehouse/sales/orders",
    "format_version": 2,
    "schema": [{"id": 1, "name": "id", "type": "long", "required": False}],
    "row_count": 3000,
    "snapshots": [{"snapshot_id": 7, "summary": {"autoloader.run-id": "run_x", "added-records": "3000"}}],
}


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(
        nats_url=nats_url, database_url=database_url, data_dir=data_dir, rpc_timeout=2.0
    ) as running:
        yield running


@pytest.fixture
async def loader(stack: ApiStack) -> AsyncIterator[list[dict[str, Any]]]:
    """A stand-in loader answering table questions; yields the requests it received."""
    requests: list[dict[str, Any]] = []

    async def table_info(request: dict[str, Any]) -> dict[str, Any]:
        requests.append(request)
        if request["table"] == "missing":
            raise NotFoundError("table lake.sales.missing does not exist yet; run the ingestion first")
        return TABLE_INFO

    async def table_sample(request: dict[str, Any]) -> dict[str, Any]:
        requests.append(request)
        if request["columns"] and "nope" in request["columns"]:
            raise ValidationFailed([FieldError("columns", "unknown column 'nope'; the table has: id")])
        return {"rows": [{"id": i} for i in range(request["limit"])]}

    subs = [
        await serve(stack.bus, rpc_subject("loader", "table_info"), table_info, queue="loader"),
        await serve(stack.bus, rpc_subject("loader", "table_sample"), table_sample, queue="loader"),
    ]
    yield requests
    for sub in subs:
        await sub.unsubscribe()


async def test_table_info_is_passed_through(stack: ApiStack, loader: list[dict[str, Any]]) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers)

    response = await stack.client.get(f"/api/v1/ingestions/{created['id']}/table", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == TABLE_INFO
    tenant_id = await stack.pool.fetchval(
        "SELECT tenant_id FROM read.ingestions WHERE id = $1", created["id"]
    )
    # The ingestion's cluster goes along: a native cluster's own catalog holds the table.
    assert loader == [
        {
            "tenant_id": tenant_id,
            "catalog": "lake",
            "database": "sales",
            "table": "orders",
            "cluster_id": created["cluster_id"],
        }
    ]


async def test_sample_passes_limit_and_columns(stack: ApiStack, loader: list[dict[str, Any]]) -> None:
    headers = await stack.tenant()
    path = f"/api/v1/ingestions/{(await stack.create(headers))['id']}/table/sample"

    some = await stack.client.get(path, params={"limit": 3, "columns": "id, name"}, headers=headers)
    default = await stack.client.get(path, headers=headers)

    assert some.json() == {"rows": [{"id": 0}, {"id": 1}, {"id": 2}]}
    assert len(default.json()["rows"]) == 100
    assert [(r["limit"], r["columns"]) for r in loader] == [(3, ["id", "name"]), (100, None)]


async def test_sample_limits_and_loader_errors_become_problems(
    stack: ApiStack, loader: list[dict[str, Any]]
) -> None:
    headers = await stack.tenant()
    path = f"/api/v1/ingestions/{(await stack.create(headers))['id']}/table"
    missing = await stack.create(headers, destination={"database": "sales", "table": "missing"})

    too_many = await stack.client.get(f"{path}/sample", params={"limit": 10_001}, headers=headers)
    zero = await stack.client.get(f"{path}/sample", params={"limit": 0}, headers=headers)
    unknown_column = await stack.client.get(f"{path}/sample", params={"columns": "nope"}, headers=headers)
    no_table = await stack.client.get(f"/api/v1/ingestions/{missing['id']}/table", headers=headers)

    assert problem(too_many, 422)["errors"] == [
        {"field": "limit", "message": "limit must be between 1 and 10000, got 10001"}
    ]
    problem(zero, 422)
    assert problem(unknown_column, 422)["errors"][0]["field"] == "columns"
    assert "run the ingestion first" in problem(no_table, 404)["detail"]
    # Out-of-range limits are refused before the loader is asked.
    assert [(r["table"], r.get("limit")) for r in loader] == [("orders", 100), ("missing", None)]


async def test_table_is_503_when_the_loader_is_not_running(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(headers)

    response = await stack.client.get(f"/api/v1/ingestions/{created['id']}/table", headers=headers)

    assert "is it running?" in problem(response, 503)["detail"]
