"""S3 and GCS specifics beyond the shared behaviour suite: error translation, identities, request counts."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.base import SourceAuthError, SourceUnavailable, check_connection
from autoloader_sources.registry import open_source
from autoloader_sources.s3 import S3Source
from tests.source_envs.gcs import GcsPlace
from tests.source_envs.s3 import S3Place

pytestmark = pytest.mark.integration

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


async def paths(spec: SourceSpec, credentials: Any) -> list[str]:
    async with open_source(spec, credentials=credentials) as source:
        return [f.path async for f in source.list_files()]


async def test_s3_wrong_secret_is_refused_without_echoing_it(s3_place: S3Place) -> None:
    assert s3_place.credentials is not None
    wrong = {**s3_place.credentials, "secret_access_key": "wrong-secret-value-1234567890"}
    with pytest.raises(SourceAuthError) as raised:
        await paths(s3_place.spec(), wrong)
    assert "wrong-secret-value" not in raised.value.message
    assert s3_place.bucket in raised.value.message


async def test_s3_incomplete_credentials_name_the_missing_field(s3_place: S3Place) -> None:
    with pytest.raises(SourceAuthError, match="secret_access_key"):
        open_source(s3_place.spec(), credentials={"access_key_id": "AKIAEXAMPLE"})


async def test_s3_unreachable_endpoint_is_transient(s3_place: S3Place) -> None:
    spec = s3_place.spec(options={"endpoint_url": UNREACHABLE, "max_attempts": 1, "connect_timeout": 2})
    with pytest.raises(SourceUnavailable, match=re.escape(UNREACHABLE)):
        await paths(spec, s3_place.credentials)
    report = await check_connection(open_source(spec, credentials=s3_place.credentials))
    assert (report.reachable, report.authorised) == (False, False)


async def test_s3_wrong_credentials_make_an_unauthorised_report(s3_place: S3Place) -> None:
    report = await check_connection(open_source(s3_place.spec(), credentials=s3_place.bad_credentials))
    assert (report.reachable, report.authorised) == (True, False)
    assert "credentials" in report.message


async def test_s3_bad_path_is_terminal() -> None:
    with pytest.raises(TerminalError, match="s3://bucket/folder/"):
        open_source(SourceSpec(type="s3", path="http://bucket/data/"))


async def test_s3_skips_folder_markers_and_reports_unquoted_etags(s3_place: S3Place) -> None:
    await s3_place.put("folder/", b"")
    await s3_place.put("folder/a.csv", b"id\n1\n")
    async with open_source(s3_place.spec(), credentials=s3_place.credentials) as source:
        [listed] = [f async for f in source.list_files()]
        stat = await source.stat("folder/a.csv")
    assert listed.path == "folder/a.csv"
    assert listed.etag == stat.etag == hashlib.md5(b"id\n1\n").hexdigest()  # noqa: S324 - S3's ETag


async def test_s3_lists_page_by_page(s3_place: S3Place) -> None:
    for n in range(5):
        await s3_place.put(f"f{n}.csv", b"x")
    async with open_source(s3_place.spec(options={"page_size": 2}), credentials=s3_place.credentials) as source:
        assert isinstance(source, S3Source)
        assert len([f async for f in source.list_files()]) == 5
        assert source.list_requests == 3


async def test_s3_reading_past_the_end_is_empty(s3_place: S3Place) -> None:
    await s3_place.put("a.csv", b"12345")
    async with open_source(s3_place.spec(), credentials=s3_place.credentials) as source:
        assert [c async for c in source.read("a.csv", start=5)] == []
        assert b"".join([c async for c in source.read("a.csv", start=3)]) == b"45"


async def test_gcs_identity_is_the_generation(gcs_place: GcsPlace) -> None:
    await gcs_place.put("a.csv", b"1")
    async with open_source(gcs_place.spec(), credentials=None) as source:
        [first] = [f async for f in source.list_files()]
        await gcs_place.put("a.csv", b"1")  # same bytes, new generation
        second = await source.stat("a.csv")
    assert first.etag
    assert first.etag.isdigit()
    assert second.etag != first.etag


@pytest.mark.parametrize(
    ("service_account_json", "named"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"type": "service_account", "private_key": "x"}), "client_email"),
    ],
)
async def test_gcs_malformed_key_is_refused_naming_the_problem(
    gcs_place: GcsPlace, service_account_json: str, named: str
) -> None:
    with pytest.raises(SourceAuthError, match=named):
        open_source(gcs_place.spec(), credentials={"service_account_json": service_account_json})


async def test_gcs_unreachable_endpoint_is_transient(gcs_place: GcsPlace) -> None:
    with pytest.raises(SourceUnavailable, match=re.escape(UNREACHABLE)):
        await paths(gcs_place.spec(options={"endpoint_url": UNREACHABLE}), None)


async def test_gcs_lists_page_by_page(gcs_place: GcsPlace) -> None:
    for n in range(5):
        await gcs_place.put(f"f{n}.csv", b"x")
    async with open_source(gcs_place.spec(options={"page_size": 2})) as source:
        assert [f.path async for f in source.list_files(start_after="f1.csv")] == ["f2.csv", "f3.csv", "f4.csv"]
        assert getattr(source, "list_requests", 0) >= 2
