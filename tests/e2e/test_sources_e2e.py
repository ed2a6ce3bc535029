"""Every remote source type end to end through the HTTP API, against its real server."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api
from tests.source_envs.base import SourcePlace

pytestmark = pytest.mark.e2e

REMOTE_TYPES = ["s3", "azure_blob", "gcs", "ftp", "sftp"]


def csv_bytes(first_id: int, rows: int) -> bytes:
    out = io.StringIO()
    out.write("id,name\n")
    for i in range(first_id, first_id + rows):
        out.write(f"{i},name-{i}\n")
    return out.getvalue().encode()


def source_body(place: SourcePlace, credentials: dict[str, str] | None) -> dict[str, Any]:
    source: dict[str, Any] = msgspec.to_builtins(place.spec(pattern="*.csv"))
    source.pop("credential_ref", None)
    if credentials is not None:
        source["credentials"] = credentials
    return source


@pytest.fixture(params=REMOTE_TYPES)
def place(request: pytest.FixtureRequest) -> SourcePlace:
    found: SourcePlace = request.getfixturevalue(f"{request.param}_place")
    return found


def make_ingestion(
    api: Api, place: SourcePlace, *, changed_files: str, credentials: dict[str, str] | None = None
) -> dict[str, Any]:
    table = unique(place.source_type.replace("_", ""))
    return api.create(
        {
            "name": table,
            "source": source_body(place, credentials if credentials is not None else place.credentials),
            "format": {"type": "csv"},
            "destination": {"catalog": "lake", "database": "e2e", "table": table},
            "discovery": {"changed_files": changed_files, "settle_interval_seconds": 0.5},
        }
    )


def run_ok(api: Api, ingestion: dict[str, Any]) -> dict[str, Any]:
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert run["status"] == "success", run
    return run


async def test_new_and_changed_files_load_exactly_as_configured(stack: Stack, api: Api, place: SourcePlace) -> None:
    for n in range(3):
        await place.put(f"part-{n}.csv", csv_bytes(n * 1000, 1000))
    ignoring = make_ingestion(api, place, changed_files="ignore")
    reloading = make_ingestion(api, place, changed_files="reload")
    for ingestion in (ignoring, reloading):
        first = run_ok(api, ingestion)
        assert (first["metrics"]["files_processed"], first["metrics"]["records_ingested"]) == (3, 3000)

    for n in (3, 4):
        await place.put(f"part-{n}.csv", csv_bytes(n * 1000, 1000))
    for ingestion in (ignoring, reloading):
        second = run_ok(api, ingestion)
        assert (second["metrics"]["files_processed"], second["metrics"]["records_ingested"]) == (2, 2000)
        assert api.table(ingestion["id"])["row_count"] == 5000

    await place.put("part-0.csv", csv_bytes(10_000, 10))  # re-uploaded with other content
    assert run_ok(api, ignoring)["metrics"]["files_processed"] == 0
    reloaded = run_ok(api, reloading)
    assert (reloaded["metrics"]["files_processed"], reloaded["metrics"]["records_ingested"]) == (1, 10)
    assert api.table(ignoring["id"])["row_count"] == 5000
    assert api.table(reloading["id"])["row_count"] == 5010


async def test_preview_shows_what_the_run_then_loads(stack: Stack, api: Api, place: SourcePlace) -> None:
    for n in range(3):
        await place.put(f"part-{n}.csv", csv_bytes(n * 100, 100))
    body = {
        "name": unique("preview"),
        "source": source_body(place, place.credentials),
        "format": {"type": "csv"},
        "destination": {"catalog": "lake", "database": "e2e", "table": unique("preview")},
        "discovery": {"settle_interval_seconds": 0.5},
    }

    response = api.http.post("/ingestions/test", json=body, params={"sample_rows": 5})

    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["connection"]["authorised"] is True, shown["connection"]
    assert shown["files"]["count"] == 3
    assert shown["estimated_records"] == 300
    assert [row["id"] for row in shown["sample_data"]] == [0, 1, 2, 3, 4]
    assert {c["name"] for c in shown["schema"]} >= {"id", "name", "_source_file"}
    ingestion = api.create(body)
    run = run_ok(api, ingestion)
    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (3, 300)
    written = {c["name"]: c["type"] for c in api.table(ingestion["id"])["schema"]}
    assert written == {c["name"]: c["type"] for c in shown["schema"]}
    sources = {row["_source_file"] for row in shown["sample_data"]}
    assert len(sources) == 1
    assert sources <= {f["path"] for f in run["files"]}


async def test_wrong_credentials_fail_clearly_and_mark_nothing(stack: Stack, api: Api, place: SourcePlace) -> None:
    await place.put("a.csv", csv_bytes(0, 10))
    assert place.bad_credentials is not None
    body = {"source": source_body(place, place.bad_credentials)}
    report = api.http.post("/ingestions/test-connection", json=body)
    assert report.status_code == 200, report.text
    assert report.json()["authorised"] is False or report.json()["reachable"] is False
    assert report.json()["message"]

    ingestion = make_ingestion(api, place, changed_files="ignore", credentials=place.bad_credentials)
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert run["status"] == "failed", run
    assert run["errors"]
    assert run["errors"][0]["message"]
    files = api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"]
    assert files == []


def test_missing_bucket_or_folder_is_named(
    stack: Stack, api: Api, place: SourcePlace, tenants: Callable[[], Api]
) -> None:
    source: dict[str, Any] = msgspec.to_builtins(place.missing_spec())
    source.pop("credential_ref", None)
    if place.credentials is not None:
        source["credentials"] = place.credentials
    report = api.http.post("/ingestions/test-connection", json={"source": source})
    assert report.status_code == 200, report.text
    assert report.json()["file_count"] == 0
    assert report.json()["message"]


def test_unreachable_host_fails_the_run_after_retries_naming_the_cause(stack: Stack, api: Api) -> None:
    closed_port = free_port()  # nothing listens here
    body = {"type": "ftp", "path": f"ftp://127.0.0.1:{closed_port}/in/", "file_pattern": "*.csv",
            "credentials": {"username": "user", "password": "s3cret-pass"}}
    report = api.http.post("/ingestions/test-connection", json={"source": body}).json()
    assert report["reachable"] is False
    assert str(closed_port) in report["message"] or "connect" in report["message"].lower()
    ingestion = api.create({"name": unique("unreachable"), "source": body, "format": {"type": "csv"},
                            "destination": {"catalog": "lake", "database": "e2e", "table": unique("t")}})
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=120)
    assert run["status"] == "failed", run
    assert "source_unavailable" in {e["error_type"] for e in run["errors"]}
    assert api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"] == []


def test_malformed_connection_string_fails_clearly(stack: Stack, api: Api, azure_blob_place: SourcePlace) -> None:
    body = source_body(azure_blob_place, {"connection_string": "this is not a connection string"})
    response = api.http.post("/ingestions/test-connection", json={"source": body})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["authorised"] is False or report["reachable"] is False
    assert "connection string" in report["message"].lower()
