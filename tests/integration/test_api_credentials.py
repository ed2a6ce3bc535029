"""Source credentials through the API: write-only, encrypted, masked, never in the event log.

Also ``POST /ingestions/test-connection`` on real folders, and the per-type source validation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import IngestionCreated, IngestionUpdated
from autoloader_contracts.subjects import aggregate_events
from autoloader_core.crypto import SecretBox
from autoloader_db.credentials import CredentialStore
from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

BASE = "/api/v1/ingestions"
MASK = "********"
KEY_ID = "AKIAEXAMPLE7Q3KEYID"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYs3cr3tKEY"
S3 = {
    "type": "s3",
    "path": "s3://orders-bucket/daily/",
    "file_pattern": "**/*.csv",
    "options": {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "path_style": True},
}


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


def _s3(**credentials: str) -> dict[str, Any]:
    return {**S3, "credentials": credentials}


async def _stream_bytes(stack: ApiStack) -> bytes:
    """Every message of the event stream, headers and data, as one byte string."""
    chunks: list[bytes] = []
    seq = 1
    while True:
        try:
            raw = await stack.bus.js.get_msg(stack.bus.stream, seq=seq, next=True)
        except JsNotFound:
            return b"\n".join(chunks)
        assert raw.seq is not None
        chunks += [raw.data or b"", repr(raw.headers).encode(), (raw.subject or "").encode()]
        seq = raw.seq + 1


async def _config_events(stack: ApiStack) -> list[IngestionCreated | IngestionUpdated]:
    stored = await EventStore(stack.bus).read_subject(aggregate_events("ingestion"))
    return [s.event for s in stored if isinstance(s.event, IngestionCreated | IngestionUpdated)]


def _store(stack: ApiStack) -> CredentialStore:
    return CredentialStore(stack.pool, SecretBox.from_settings(stack.settings))


def _assert_no_secret(text: str | bytes, *secrets: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in secrets:
        assert secret.encode() not in data, f"secret value {secret[:4]}... leaked"


async def _tenant_id(stack: ApiStack, ingestion_id: str) -> str:
    tenant_id = await stack.pool.fetchval("SELECT tenant_id FROM read.ingestions WHERE id = $1", ingestion_id)
    assert isinstance(tenant_id, str)
    return tenant_id


async def test_credentials_are_stored_encrypted_masked_in_responses_and_absent_from_the_log(
    stack: ApiStack,
) -> None:
    headers = await stack.tenant()
    response = await stack.client.post(
        BASE,
        json=stack.ingestion_body(source=_s3(access_key_id=KEY_ID, secret_access_key=SECRET)),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    fetched = await stack.client.get(f"{BASE}/{created['id']}", headers=headers)
    listed = await stack.client.get(BASE, headers=headers)

    masked = {"access_key_id": MASK, "secret_access_key": MASK}
    assert created["source"]["credentials"] == masked
    assert fetched.json()["source"]["credentials"] == masked
    assert listed.json()["items"][0]["source"]["credentials"] == masked
    for answer in (response, fetched, listed):
        _assert_no_secret(answer.text, KEY_ID, SECRET, "cred_")
    _assert_no_secret(await _stream_bytes(stack), KEY_ID, SECRET)

    [event] = await _config_events(stack)
    ref = event.config.source.credential_ref
    assert ref is not None
    tenant_id = await _tenant_id(stack, created["id"])
    assert await _store(stack).load(tenant_id, ref) == {"access_key_id": KEY_ID, "secret_access_key": SECRET}


async def test_credentials_alone_may_change_while_active_and_get_a_new_ref(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(
        headers, activate=True, source=_s3(access_key_id=KEY_ID, secret_access_key=SECRET)
    )
    new_secret = "n3wS3cretValueRotatedByTheUser0000"

    response = await stack.client.put(
        f"{BASE}/{created['id']}",
        json={"source": _s3(access_key_id=KEY_ID, secret_access_key=new_secret, session_token="tok-xyz-123")},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    assert response.json()["source"]["credentials"] == {
        "access_key_id": MASK, "secret_access_key": MASK, "session_token": MASK
    }
    first, update = await _config_events(stack)
    assert isinstance(update, IngestionUpdated)
    assert update.changed == ["source"]
    old_ref, new_ref = first.config.source.credential_ref, update.config.source.credential_ref
    assert old_ref
    assert new_ref
    assert new_ref != old_ref
    loaded = await _store(stack).load(await _tenant_id(stack, created["id"]), new_ref)
    assert loaded["secret_access_key"] == new_secret
    _assert_no_secret(await _stream_bytes(stack), KEY_ID, SECRET, new_secret, "tok-xyz-123")
    _assert_no_secret(response.text, KEY_ID, new_secret, "tok-xyz-123")


async def test_other_source_changes_stay_refused_while_active(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(
        headers, activate=True, source=_s3(access_key_id=KEY_ID, secret_access_key=SECRET)
    )
    rows_before = await stack.pool.fetchval("SELECT count(*) FROM secrets.credentials")
    moved = {**_s3(access_key_id=KEY_ID, secret_access_key="other-secret-value"), "path": "s3://orders-bucket/x/"}

    response = await stack.client.put(f"{BASE}/{created['id']}", json={"source": moved}, headers=headers)

    assert "source cannot change once the ingestion is active" in problem(response, 409)["detail"]
    assert await stack.pool.fetchval("SELECT count(*) FROM secrets.credentials") == rows_before
    assert len(await _config_events(stack)) == 1


async def test_sending_back_the_masked_source_keeps_the_stored_credentials(stack: ApiStack) -> None:
    headers = await stack.tenant()
    created = await stack.create(
        headers, activate=True, source=_s3(access_key_id=KEY_ID, secret_access_key=SECRET)
    )
    echoed = dict(created["source"])  # {"access_key_id": "********", ...} as a GET shows it

    unchanged = await stack.client.put(f"{BASE}/{created['id']}", json={"source": echoed}, headers=headers)
    omitted = {key: value for key, value in echoed.items() if key != "credentials"}
    kept = await stack.client.put(f"{BASE}/{created['id']}", json={"source": omitted}, headers=headers)
    partly = await stack.client.put(
        f"{BASE}/{created['id']}",
        json={"source": {**echoed, "credentials": {"access_key_id": MASK, "secret_access_key": "brand-new-9"}}},
        headers=headers,
    )

    assert unchanged.status_code == kept.status_code == partly.status_code == 200, partly.text
    assert unchanged.json()["version"] == kept.json()["version"] == created["version"]
    events = await _config_events(stack)
    assert len(events) == 2  # only the partial change made an event
    loaded = await _store(stack).load(
        await _tenant_id(stack, created["id"]), events[-1].config.source.credential_ref or ""
    )
    assert loaded == {"access_key_id": KEY_ID, "secret_access_key": "brand-new-9"}


async def test_a_mask_without_a_stored_value_asks_for_the_real_one(stack: ApiStack) -> None:
    headers = await stack.tenant()
    body = stack.ingestion_body(source=_s3(access_key_id=MASK, secret_access_key=MASK))

    found = problem(await stack.client.post(BASE, json=body, headers=headers), 422)

    assert {e["field"] for e in found["errors"]} == {
        "source.credentials.access_key_id", "source.credentials.secret_access_key"
    }
    assert "send the real value" in found["errors"][0]["message"]


async def test_connection_check_counts_the_files_of_a_local_folder(stack: ApiStack) -> None:
    headers = await stack.tenant()
    folder = stack.landing / "check"
    (folder / "2024").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"x" * 10)
    (folder / "2024" / "b.csv").write_bytes(b"y" * 32)
    (folder / "notes.txt").write_bytes(b"ignored")
    source = {"type": "local", "path": str(folder), "file_pattern": "**/*.csv"}

    alone = await stack.client.post(f"{BASE}/test-connection", json={"source": source}, headers=headers)
    whole = await stack.client.post(
        f"{BASE}/test-connection", json=stack.ingestion_body(source=source), headers=headers
    )

    assert alone.status_code == 200, alone.text
    report = alone.json()
    assert report["reachable"] is report["authorised"] is True
    assert (report["file_count"], report["total_bytes"], report["capped"]) == (2, 42, False)
    assert sorted((f["path"], f["size"]) for f in report["sample"]) == [("2024/b.csv", 32), ("a.csv", 10)]
    assert all(f["modified_at"].endswith("Z") for f in report["sample"])
    assert "2 matching files" in report["message"]
    assert whole.json() == report
    assert await _config_events(stack) == []  # nothing stored


async def test_connection_check_of_a_missing_folder_says_so(stack: ApiStack) -> None:
    headers = await stack.tenant()
    missing = stack.landing / "not-there"

    response = await stack.client.post(
        f"{BASE}/test-connection", json={"source": {"type": "local", "path": str(missing)}}, headers=headers
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["file_count"] == 0
    assert "does not exist" in report["message"]
    assert str(missing) in report["message"]


async def test_connection_check_of_an_unreachable_server_never_echoes_credentials(stack: ApiStack) -> None:
    headers = await stack.tenant()
    password = "Pa55-w0rd-that-must-not-leak"
    source = {
        "type": "sftp",
        "path": "sftp://127.0.0.1:9/data/",
        "credentials": {"username": "ingest", "password": password},
        "options": {"host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC"},
    }

    response = await stack.client.post(f"{BASE}/test-connection", json={"source": source}, headers=headers)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["reachable"] is False
    assert report["message"]
    _assert_no_secret(response.text, password)


async def test_connection_check_needs_an_api_key(stack: ApiStack) -> None:
    source = {"type": "local", "path": str(stack.landing)}

    response = await stack.client.post(f"{BASE}/test-connection", json={"source": source})

    problem(response, 401)


async def test_connection_check_refuses_an_invalid_source(stack: ApiStack) -> None:
    headers = await stack.tenant()
    source = {"type": "gcs", "path": "gs://b/x/", "credentials": {"service_account_json": "[1, 2]"}}

    found = problem(
        await stack.client.post(f"{BASE}/test-connection", json={"source": source}, headers=headers), 422
    )

    assert {e["field"] for e in found["errors"]} == {"source.path", "source.credentials.service_account_json"}


AZURE_PATH = "abfss://landing@acct01.dfs.core.windows.net/in/"
# (case, source, field, words the message must contain)
VALIDATION_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("s3 not a URL", {"type": "s3", "path": "bucket/prefix"}, "source.path", "send s3://bucket/prefix/"),
    ("s3 IP bucket", {"type": "s3", "path": "s3://192.168.1.10/x/"}, "source.path", "not a valid S3 bucket"),
    (
        "s3 unknown credential",
        {"type": "s3", "path": "s3://bkt/x/", "credentials": {"access_key": "a"}},
        "source.credentials.access_key",
        "unknown credential field 'access_key' for s3 sources; use access_key_id, secret_access_key",
    ),
    (
        "s3 key without secret",
        {"type": "s3", "path": "s3://bkt/x/", "credentials": {"access_key_id": "a"}},
        "source.credentials.secret_access_key",
        "together",
    ),
    (
        "s3 endpoint not http",
        {"type": "s3", "path": "s3://bkt/x/", "options": {"endpoint_url": "ftp://minio:9000"}},
        "source.options.endpoint_url",
        "is not an http(s) URL",
    ),
    (
        "s3 path_style not bool",
        {"type": "s3", "path": "s3://bkt/x/", "options": {"path_style": "yes"}},
        "source.options.path_style",
        "must be true or false",
    ),
    (
        "unknown option",
        {"type": "s3", "path": "s3://bkt/x/", "options": {"regoin": "eu-west-1"}},
        "source.options.regoin",
        "unknown option for s3; use connect_timeout, endpoint_url, max_attempts, page_size, path_style",
    ),
    ("azure bad URL", {"type": "azure_blob", "path": "az://c/x"}, "source.path", "abfss://container@account"),
    (
        "azure SAS in the path",
        {"type": "azure_blob", "path": "https://acct01.blob.core.windows.net/landing/in/?sv=2024&sig=abc"},
        "source.path",
        "credentials.sas_token",
    ),
    (
        "azure two credentials",
        {"type": "azure_blob", "path": AZURE_PATH, "credentials": {"account_key": "k", "sas_token": "s"}},
        "source.credentials",
        "exactly one of connection_string, account_key or sas_token (got account_key, sas_token)",
    ),
    (
        "azure bad account",
        {"type": "azure_blob", "path": "https://Acct.blob.core.windows.net/landing/"},
        "source.path",
        "not a valid storage account name",
    ),
    ("gcs bad bucket", {"type": "gcs", "path": "gs://-bkt/x/"}, "source.path", "not a valid GCS bucket name"),
    (
        "gcs key not an object",
        {"type": "gcs", "path": "gs://bkt/x/", "credentials": {"service_account_json": "not json"}},
        "source.credentials.service_account_json",
        "must be a JSON object",
    ),
    (
        "ftp dot-dot",
        {"type": "ftp", "path": "ftp://files.example.com:21/in/../etc/"},
        "source.path",
        "must not contain '..' segments",
    ),
    (
        "ftp password in URL",
        {"type": "ftp", "path": "ftp://u:p@files.example.com/in/"},
        "source.path",
        "must not contain a user name or password",
    ),
    ("ftp bad port", {"type": "ftp", "path": "ftp://files.example.com:99999/in/"}, "source.path", "invalid port"),
    (
        "ftp private key",
        {"type": "ftp", "path": "ftp://h/in/", "credentials": {"username": "u", "private_key": "k"}},
        "source.credentials.private_key",
        "unknown credential field 'private_key' for ftp sources",
    ),
    (
        "ftp tls not bool",
        {"type": "ftp", "path": "ftp://h/in/", "options": {"tls": 1}},
        "source.options.tls",
        "must be true or false",
    ),
    (
        "sftp without secret",
        {"type": "sftp", "path": "sftp://h:22/in/", "credentials": {"username": "u"}},
        "source.credentials",
        "SFTP needs a password or a private_key",
    ),
    ("sftp no credentials", {"type": "sftp", "path": "sftp://h/in/"}, "source.credentials", "need credentials"),
    (
        "sftp without host key",
        {"type": "sftp", "path": "sftp://h/in/", "credentials": {"username": "u", "password": "p"}},
        "source.options.host_key",
        "host_key is required",
    ),
    (
        "sftp empty host key",
        {"type": "sftp", "path": "sftp://h/in/", "credentials": {"username": "u", "password": "p"},
         "options": {"host_key": " "}},
        "source.options.host_key",
        "must be a non-empty string",
    ),
    (
        "sftp scheme mismatch",
        {"type": "sftp", "path": "ftp://h/in/", "credentials": {"username": "u", "password": "p"},
         "options": {"host_key": "ssh-ed25519 AAAA"}},
        "source.path",
        "is not a SFTP URL",
    ),
    (
        "credential value not a string",
        {"type": "ftp", "path": "ftp://h/in/", "credentials": {"username": "u", "password": 1234}},
        "source.credentials.password",
        "must be a non-empty string",
    ),
]


async def test_each_source_type_validates_its_path_credentials_and_options(stack: ApiStack) -> None:
    headers = await stack.tenant()
    failures = []
    for case, source, field, words in VALIDATION_CASES:
        response = await stack.client.post(BASE, json=stack.ingestion_body(source=source), headers=headers)
        found = problem(response, 422)
        messages = {e["field"]: e["message"] for e in found["errors"]}
        if words not in messages.get(field, ""):
            failures.append(f"{case}: {messages}")
        for value in (source.get("credentials") or {}).values():
            if isinstance(value, str) and len(value) > 3:
                _assert_no_secret(response.text, value)
    assert not failures, "\n".join(failures)
    assert await _config_events(stack) == []


async def test_valid_sources_of_every_type_are_accepted(stack: ApiStack) -> None:
    headers = await stack.tenant()
    sources = [
        _s3(access_key_id=KEY_ID, secret_access_key=SECRET),
        {"type": "s3", "path": "s3://public-bucket"},  # ambient identity
        {"type": "azure_blob", "path": AZURE_PATH, "credentials": {"connection_string": "DefaultEndpoints=x"}},
        {"type": "azure_blob", "path": "https://acct01.blob.core.windows.net/landing/in/",
         "options": {"endpoint_url": "http://127.0.0.1:10000/acct01"}},
        {"type": "gcs", "path": "gs://my_bucket.example/in/",
         "credentials": {"service_account_json": {"type": "service_account", "private_key": "k"}}},
        {"type": "ftp", "path": "ftp://127.0.0.1:2121/in/", "options": {"tls": False, "passive": True}},
        {"type": "sftp", "path": "sftp://files.example.com/in/",
         "credentials": {"username": "u", "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----"},
         "options": {"host_key": "ssh-ed25519 AAAA", "page_size": 2}},
    ]
    for source in sources:
        response = await stack.client.post(BASE, json=stack.ingestion_body(source=source), headers=headers)
        assert response.status_code == 201, response.text
        assert set(response.json()["source"]["credentials"]) == set(source.get("credentials", {}))


@pytest.fixture(params=["s3", "azure_blob", "gcs", "ftp", "sftp"])
def remote_place(request: pytest.FixtureRequest) -> Any:
    """A fresh folder in the real server of each remote type (sync: async fixtures resolve here)."""
    return request.getfixturevalue(f"{request.param}_place")


async def test_connection_check_uses_the_real_connector(stack: ApiStack, remote_place: Any) -> None:
    place = remote_place
    await place.put("a.csv", b"12345")
    await place.put("nested/b.csv", b"1234567890")
    await place.put("skip.txt", b"not matched")
    headers = await stack.tenant()
    spec = place.spec(pattern="**/*.csv")
    source = {"type": spec.type, "path": spec.path, "file_pattern": spec.file_pattern, "options": spec.options}

    async def check(body: dict[str, Any]) -> dict[str, Any]:
        response = await stack.client.post(f"{BASE}/test-connection", json={"source": body}, headers=headers)
        assert response.status_code == 200, response.text
        for value in (body.get("credentials") or {}).values():
            _assert_no_secret(response.text, value)
        return dict(response.json())

    good = await check({**source, "credentials": place.credentials} if place.credentials else source)
    assert (good["reachable"], good["authorised"]) == (True, True), good["message"]
    assert (good["file_count"], good["total_bytes"]) == (2, 15)
    assert sorted(f["path"] for f in good["sample"]) == ["a.csv", "nested/b.csv"]

    if place.bad_credentials is not None:
        refused = await check({**source, "credentials": place.bad_credentials})
        assert refused["authorised"] is False, refused
        assert refused["file_count"] == 0
        assert refused["message"]

    missing = place.missing_spec()
    absent = await check({"type": missing.type, "path": missing.path, "options": missing.options,
                          **({"credentials": place.credentials} if place.credentials else {})})
    assert absent["file_count"] == 0
    assert absent["message"]
