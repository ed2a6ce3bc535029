"""Azure Blob connector against Azurite: each credential kind, permissions, identity and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec
from autoloader_sources.base import SourceAuthError, SourceUnavailable, check_connection
from autoloader_sources.registry import open_source
from tests.source_envs.azure import ACCOUNT, ACCOUNT_KEY, AzureBlobPlace

pytestmark = pytest.mark.integration


def _sas(place: AzureBlobPlace, **permissions: bool) -> str:
    return generate_container_sas(ACCOUNT, place.container, account_key=ACCOUNT_KEY,
                                  permission=ContainerSasPermissions(**permissions),
                                  expiry=datetime.now(UTC) + timedelta(hours=1))


async def _paths(spec: SourceSpec, credentials: dict[str, str]) -> list[str]:
    async with open_source(spec, credentials=credentials) as source:
        return [f.path async for f in source.list_files()]


async def test_account_key_and_sas_token_credentials_work(azure_blob_place: AzureBlobPlace) -> None:
    await azure_blob_place.put("a.csv", b"x")
    spec = azure_blob_place.spec()
    assert await _paths(spec, {"account_key": ACCOUNT_KEY}) == ["a.csv"]
    assert await _paths(spec, {"sas_token": "?" + _sas(azure_blob_place, read=True, list=True)}) == ["a.csv"]


async def test_a_sas_without_list_permission_is_an_auth_error_without_the_token(
        azure_blob_place: AzureBlobPlace) -> None:
    token = _sas(azure_blob_place, read=True)
    with pytest.raises(SourceAuthError, match="sas_token") as raised:
        await _paths(azure_blob_place.spec(), {"sas_token": token})
    assert token not in raised.value.message
    assert token.split("sig=")[1] not in raised.value.message


async def test_listing_and_stat_give_the_same_unquoted_etag(azure_blob_place: AzureBlobPlace) -> None:
    await azure_blob_place.put("x/y.csv", b"12345")
    async with open_source(azure_blob_place.spec(), credentials=azure_blob_place.credentials) as source:
        [listed] = [f async for f in source.list_files()]
        stat = await source.stat("x/y.csv")
        assert listed.etag
        assert not listed.etag.startswith('"')
        assert stat == listed
        assert listed.modified_at.tzinfo is not None
        assert b"".join([c async for c in source.read("x/y.csv", start=10)]) == b""
        assert b"".join([c async for c in source.read("x/y.csv", start=1, end=3)]) == b"23"


async def test_paths_with_dot_dot_cannot_leave_the_prefix(azure_blob_place: AzureBlobPlace) -> None:
    async with open_source(azure_blob_place.spec(), credentials=azure_blob_place.credentials) as source:
        with pytest.raises(Exception, match="outside the source folder"):
            await source.stat("../secret.csv")


async def test_an_unreachable_endpoint_is_transient() -> None:
    spec = SourceSpec(type="azure_blob", path=f"https://{ACCOUNT}.blob.core.windows.net/c/",
                      options={"endpoint_url": f"http://127.0.0.1:{free_port()}/{ACCOUNT}", "retry_total": 0})
    with pytest.raises(SourceUnavailable, match="unavailable"):
        await _paths(spec, {"account_key": ACCOUNT_KEY})
    report = await check_connection(open_source(spec, credentials={"account_key": ACCOUNT_KEY}))
    assert (report.reachable, report.authorised) == (False, False)
    assert ACCOUNT_KEY not in report.message


async def test_connection_check_reports_a_malformed_connection_string(azure_blob_place: AzureBlobPlace) -> None:
    report = await check_connection(open_source(azure_blob_place.spec(),
                                                credentials={"connection_string": "AccountKey"}))
    assert not report.authorised
    assert "connection string is malformed" in report.message
