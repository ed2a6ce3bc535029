"""Source and catalog secrets never appear in the event stream, the service logs or any API response."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from autoloader_bus.connection import Bus
from autoloader_cli.stack import Stack
from tests.catalog_env import RestCatalogServer
from tests.conftest import unique
from tests.e2e.conftest import Api
from tests.e2e.test_sources_e2e import csv_bytes, make_ingestion, source_body
from tests.e2e.test_user_catalog_e2e import register_rest_catalog, s3_ingestion
from tests.source_envs.base import SourcePlace
from tests.source_envs.s3 import S3Place

pytestmark = pytest.mark.e2e

SECRET_FIELDS = {
    "password",
    "secret_access_key",
    "session_token",
    "account_key",
    "connection_string",
    "sas_token",
    "service_account_json",
    "private_key",
    "passphrase",
}


@pytest.fixture(params=["s3", "azure_blob", "gcs", "ftp", "sftp"])
def place(request: pytest.FixtureRequest) -> SourcePlace:
    found: SourcePlace = request.getfixturevalue(f"{request.param}_place")
    return found


def _secrets(*credential_sets: dict[str, str] | None) -> set[str]:
    values = set()
    for credentials in credential_sets:
        for field, value in (credentials or {}).items():
            if field in SECRET_FIELDS and len(value) >= 8:
                values.add(value)
    return values


async def _stream_bytes(nats_url: str) -> bytes:
    """Every stored event (subject, headers, payload), as an integration subscribed to the log sees it."""
    bus = await Bus.connect(nats_url, stream="AUTOLOADER", name="secret-scan")
    try:
        info = await bus.js.stream_info(bus.stream)
        chunks = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await bus.js.get_msg(bus.stream, seq)
            chunks.append((message.subject or "").encode() + repr(message.headers).encode() + (message.data or b""))
        return b"\n".join(chunks)
    finally:
        await bus.close()


async def test_no_secret_in_events_logs_or_responses(stack: Stack, api: Api, place: SourcePlace) -> None:
    secrets = _secrets(place.credentials, place.bad_credentials)
    assert secrets, "the place must have secret credentials to scan for"
    responses: list[httpx.Response] = []
    for n in range(2):
        await place.put(f"part-{n}.csv", csv_bytes(n * 10, 10))
    ingestion = make_ingestion(api, place, changed_files="ignore")
    responses.append(api.http.get(f"/ingestions/{ingestion['id']}"))
    responses.append(api.http.get("/ingestions"))
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert run["status"] == "success", run
    for path in (
        f"/ingestions/{ingestion['id']}/runs",
        f"/ingestions/{ingestion['id']}/runs/{run['id']}",
        f"/ingestions/{ingestion['id']}/files",
        f"/ingestions/{ingestion['id']}/table",
        f"/ingestions/{ingestion['id']}/table/sample",
    ):
        responses.append(api.http.get(path))
    update: dict[str, Any] = {"source": source_body(place, place.credentials)}
    responses.append(api.http.put(f"/ingestions/{ingestion['id']}", json=update))
    responses.append(
        api.http.post("/ingestions/test-connection", json={"source": source_body(place, place.bad_credentials)})
    )
    failing = make_ingestion(api, place, changed_files="ignore", credentials=place.bad_credentials)
    failed = api.wait_run(failing["id"], api.run(failing["id"]))
    assert failed["status"] == "failed"
    responses.append(api.http.get(f"/ingestions/{failing['id']}/runs/{failed['id']}"))

    assert all(r.status_code < 300 for r in responses), [(r.url, r.status_code) for r in responses]
    shown = ingestion["source"]["credentials"]
    assert sorted(shown) == sorted(place.credentials or {}), "responses name the credential fields that are set"
    assert set(shown.values()) <= {"********"}
    texts = {str(r.url): r.text for r in responses} | {"create": str(ingestion), "failed run": str(failed)}
    logs = {p.name: p.read_text(errors="replace") for p in stack.logs_dir.glob("*.log")}
    stream = await _stream_bytes(stack.settings.nats_url)  # type: ignore[union-attr]
    for secret in secrets:
        assert not [url for url, text in texts.items() if secret in text], "a secret leaked into a response"
        assert not [name for name, text in logs.items() if secret in text], "a secret leaked into a log"
        assert secret.encode() not in stream, "a secret leaked into the event stream"


async def test_no_catalog_credential_in_events_logs_or_responses(
    stack: Stack, api: Api, rest_catalog_server: RestCatalogServer, s3_place: S3Place
) -> None:
    server = rest_catalog_server
    wrong_secret, rotated_token = f"wrong-{uuid.uuid4().hex}", f"token-{uuid.uuid4().hex}"
    good = register_rest_catalog(api, server)
    wrong = register_rest_catalog(
        api, server, name="wrong", credentials={"client_id": server.client_id, "client_secret": wrong_secret}
    )
    await s3_place.put("part-0.csv", csv_bytes(0, 10))
    loading = s3_ingestion(api, s3_place, unique("sales"))
    refused = s3_ingestion(api, s3_place, unique("sales"), catalog="wrong")
    runs = [api.wait_run(i["id"], api.run(i["id"]), timeout=120) for i in (loading, refused)]
    responses = [
        api.http.get("/catalogs"),
        api.http.get(f"/catalogs/{good['id']}"),
        api.http.post(f"/catalogs/{good['id']}/test-connection"),
        api.http.post(f"/catalogs/{wrong['id']}/test-connection"),
        api.http.put(f"/catalogs/{wrong['id']}", json={"credentials": {"token": rotated_token}}),
        api.http.get(f"/ingestions/{loading['id']}/table"),
        *(api.http.get(f"/ingestions/{i['id']}/runs/{r['id']}") for i, r in zip((loading, refused), runs, strict=True)),
    ]

    assert [r["status"] for r in runs] == ["success", "failed"]
    assert all(r.status_code < 300 for r in responses), [(r.url, r.status_code) for r in responses]
    texts = {str(r.url): r.text for r in responses} | {"good": str(good), "wrong": str(wrong)}
    logs = {p.name: p.read_text(errors="replace") for p in stack.logs_dir.glob("*.log")}
    stream = await _stream_bytes(stack.settings.nats_url)  # type: ignore[union-attr]
    for secret in (server.client_secret, wrong_secret, rotated_token):
        assert not [url for url, text in texts.items() if secret in text], "a catalog secret leaked into a response"
        assert not [name for name, text in logs.items() if secret in text], "a catalog secret leaked into a log"
        assert secret.encode() not in stream, "a catalog secret leaked into the event stream"
