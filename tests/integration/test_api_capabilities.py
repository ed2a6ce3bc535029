"""``GET /capabilities``: the accepted values come from the validating rules, so clients cannot drift from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autoloader_formats import SUPPORTED_FORMATS
from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

PATH = "/api/v1/capabilities"


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def test_capabilities_list_every_source_type_and_format_with_their_fields(stack: ApiStack) -> None:
    headers = await stack.tenant()

    answer = (await stack.client.get(PATH, headers=headers)).json()

    assert set(answer["source_types"]) == {"local", "s3", "azure_blob", "gcs", "ftp", "sftp"}
    s3 = answer["source_types"]["s3"]
    assert s3["credential_fields"] == ["access_key_id", "secret_access_key", "session_token"]
    assert {"endpoint_url", "region", "path_style"} <= set(s3["options"])
    sftp = answer["source_types"]["sftp"]
    assert sftp["required_options"] == ["host_key"]
    assert sftp["requires_credentials"] is True
    assert answer["source_types"]["local"]["credential_fields"] == []
    assert set(answer["formats"]) == set(SUPPORTED_FORMATS)
    assert "delimiter" in answer["formats"]["csv"]
    assert answer["formats"]["parquet"] == ["compression"]
    assert answer["frequencies"] == ["manual", "hourly", "daily", "weekly", "cron"]
    assert "skip_file" in answer["on_error"]
    assert "add_new_columns" in answer["evolution_modes"]


async def test_what_capabilities_offer_is_what_create_accepts(stack: ApiStack) -> None:
    headers = await stack.tenant()
    answer = (await stack.client.get(PATH, headers=headers)).json()

    for mode in answer["evolution_modes"]:
        for policy in answer["on_error"]:
            body = stack.ingestion_body(
                format={"type": "csv", "options": {"delimiter": ";"}, "schema": {"evolution_mode": mode}},
                errors={"on_error": policy},
            )
            created = await stack.client.post("/api/v1/ingestions", json=body, headers=headers)
            assert created.status_code == 201, created.text
    refused = await stack.client.post(
        "/api/v1/ingestions",
        json=stack.ingestion_body(format={"type": "csv", "options": {"not_listed": 1}}),
        headers=headers,
    )
    assert problem(refused, 422)["errors"][0]["field"] == "format.options.not_listed"


async def test_capabilities_need_a_key(stack: ApiStack) -> None:
    assert (await stack.client.get(PATH)).status_code == 401
