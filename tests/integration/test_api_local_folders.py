"""Local folders are per tenant: the first tenant to use one owns it, its files are nobody else's to read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

INGESTIONS = "/api/v1/ingestions"


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


def on_folder(stack: ApiStack, folder: Path) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    return stack.ingestion_body(source={"type": "local", "path": str(folder), "file_pattern": "*.csv"})


async def owned_by_a(stack: ApiStack) -> tuple[dict[str, str], dict[str, str], Path]:
    a, b = await stack.tenant(), await stack.tenant()
    folder = stack.landing / "tenant-a" / "orders"
    created = await stack.client.post(INGESTIONS, json=on_folder(stack, folder), headers=a)
    assert created.status_code == 201, created.text
    return a, b, folder


@pytest.mark.parametrize("relative", ["tenant-a/orders", "tenant-a/orders/2026", "tenant-a", "."])
async def test_another_tenant_cannot_create_on_the_folder_inside_or_around_it(stack: ApiStack, relative: str) -> None:
    _, b, _ = await owned_by_a(stack)

    refused = await stack.client.post(INGESTIONS, json=on_folder(stack, stack.landing / relative), headers=b)

    error = problem(refused, 422)["errors"][0]
    assert error["field"] == "source.path"
    assert "not available to this tenant" in error["message"]
    listed = (await stack.client.get(INGESTIONS, headers=b)).json()["items"]
    assert listed == []


async def test_another_tenant_cannot_preview_test_or_price_the_folder(stack: ApiStack) -> None:
    _, b, folder = await owned_by_a(stack)
    body = on_folder(stack, folder)

    for path in ("/test", "/test-connection", "/estimate-cost"):
        refused = await stack.client.post(f"{INGESTIONS}{path}", json=body, headers=b)
        assert problem(refused, 422)["errors"][0]["field"] == "source.path", path


async def test_a_symlink_into_the_folder_is_refused_too(stack: ApiStack) -> None:
    _, b, folder = await owned_by_a(stack)
    link = stack.landing / "looks-like-mine"
    link.symlink_to(folder, target_is_directory=True)

    refused = await stack.client.post(INGESTIONS, json=on_folder(stack, link), headers=b)

    assert problem(refused, 422)["errors"][0]["field"] == "source.path"


async def test_the_owner_reuses_its_folder_and_others_use_their_own(stack: ApiStack) -> None:
    a, b, folder = await owned_by_a(stack)

    again = await stack.client.post(INGESTIONS, json=on_folder(stack, folder / "2026"), headers=a)
    own = await stack.client.post(INGESTIONS, json=on_folder(stack, stack.landing / "tenant-b"), headers=b)

    assert again.status_code == 201, again.text
    assert own.status_code == 201, own.text


async def test_an_update_cannot_move_a_draft_onto_another_tenants_folder(stack: ApiStack) -> None:
    _, b, folder = await owned_by_a(stack)
    draft = await stack.client.post(INGESTIONS, json=on_folder(stack, stack.landing / "tenant-b"), headers=b)
    assert draft.status_code == 201, draft.text

    moved = await stack.client.put(
        f"{INGESTIONS}/{draft.json()['id']}",
        json={"source": {"type": "local", "path": str(folder), "file_pattern": "*.csv"}},
        headers=b,
    )

    assert problem(moved, 422)["errors"][0]["field"] == "source.path"
