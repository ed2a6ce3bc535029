"""Per-type source rules: pure checks whose messages never quote anything that may be a secret."""

from __future__ import annotations

import json

import pytest

from autoloader_api.domain.source_rules import credential_errors, normalise_credentials, remote_source_errors

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("source_type", "path"),
    [
        ("ftp", "ftp://user:Pa55word@files.example.com:99999/in/"),
        ("sftp", "ftp://user:Pa55word@files.example.com/in/"),
        ("azure_blob", "https://nope.example.com/c/?sv=1&sig=Pa55word"),
        ("s3", "S3://bucket/?X-Amz-Signature=Pa55word"),
        ("gcs", "gs://bucket/x?token=Pa55word"),
    ],
)
def test_path_errors_never_quote_user_info_or_query(source_type: str, path: str) -> None:
    errors = remote_source_errors(source_type, path, {"host_key": "k"} if source_type == "sftp" else {}, None)
    assert errors
    assert all("Pa55word" not in e.message for e in errors)


def test_credential_errors_never_quote_values() -> None:
    errors = credential_errors("s3", {"access_key_id": "AKIA-visible?", "secret": "Pa55word"})
    assert [e.field for e in errors] == ["source.credentials.secret"]
    assert all("Pa55word" not in e.message and "AKIA" not in e.message for e in errors)


def test_a_service_account_object_becomes_its_json_text() -> None:
    key = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----"}
    assert credential_errors("gcs", {"service_account_json": key}) == []
    normalised = normalise_credentials({"service_account_json": key})
    assert json.loads(normalised["service_account_json"]) == key


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("s3://my.bucket-01/prefix/", True),
        ("s3://ab/x", False),
        ("s3://a..b/x", False),
        ("abfss://landing@acct01.dfs.core.windows.net/", True),
        ("https://acct01.blob.core.windows.net/a--b/", False),
    ],
)
def test_bucket_and_container_names(path: str, ok: bool) -> None:
    source_type = "s3" if path.startswith("s3") else "azure_blob"
    assert (remote_source_errors(source_type, path, {}, None) == []) is ok
