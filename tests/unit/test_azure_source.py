"""Azure Blob connector: path forms and credential checks (no server needed)."""

from __future__ import annotations

import pytest

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.azure import BlobLocation, parse_blob_path
from autoloader_sources.registry import open_source

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("path", "expected"), [
    ("abfss://raw@acct.dfs.core.windows.net/landing/csv/",
     BlobLocation("acct", "https://acct.blob.core.windows.net", "raw", "landing/csv/")),
    ("https://acct.blob.core.windows.net/raw/landing",
     BlobLocation("acct", "https://acct.blob.core.windows.net", "raw", "landing/")),
    ("https://acct.blob.core.windows.net/raw",
     BlobLocation("acct", "https://acct.blob.core.windows.net", "raw", "")),
    ("abfss://raw@acct.dfs.core.chinacloudapi.cn/",
     BlobLocation("acct", "https://acct.blob.core.chinacloudapi.cn", "raw", "")),
])
def test_both_path_forms_name_account_container_and_prefix(path: str, expected: BlobLocation) -> None:
    assert parse_blob_path(path) == expected


def test_endpoint_url_overrides_the_derived_endpoint() -> None:
    location = parse_blob_path("https://devstoreaccount1.blob.core.windows.net/c/x/",
                               "http://127.0.0.1:10000/devstoreaccount1/")
    assert location.account_url == "http://127.0.0.1:10000/devstoreaccount1"
    assert (location.account, location.container, location.prefix) == ("devstoreaccount1", "c", "x/")


@pytest.mark.parametrize("path", ["s3://bucket/x/", "abfss://acct.dfs.core.windows.net/x",
                                  "https://acct.blob.core.windows.net/", "/local/dir"])
def test_other_paths_are_refused_with_the_expected_forms(path: str) -> None:
    with pytest.raises(TerminalError, match="abfss://container@account"):
        parse_blob_path(path)


def _spec() -> SourceSpec:
    return SourceSpec(type="azure_blob", path="https://acct.blob.core.windows.net/c/")


def test_more_than_one_credential_is_refused_without_echoing_values() -> None:
    with pytest.raises(TerminalError, match="exactly one") as raised:
        open_source(_spec(), credentials={"account_key": "secret-key-1", "sas_token": "secret-sas-2"})
    assert "secret" not in raised.value.message


def test_unknown_credential_fields_are_refused() -> None:
    with pytest.raises(TerminalError, match="unknown Azure credential fields"):
        open_source(_spec(), credentials={"password": "hunter22"})


async def test_a_malformed_connection_string_is_a_terminal_error_saying_so() -> None:
    source = open_source(_spec(), credentials={"connection_string": "not a connection string"})
    with pytest.raises(TerminalError, match="connection string is malformed") as raised:
        async with source:
            pass
    assert "not a connection string" not in raised.value.message
