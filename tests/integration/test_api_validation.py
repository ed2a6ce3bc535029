"""Bad input is refused with a precise problem (field + what to send) and nothing is stored."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autoloader_bus.event_store import EventStore
from autoloader_contracts.subjects import aggregate_events
from tests.integration.api_harness import ApiStack, api_stack, problem

pytestmark = pytest.mark.integration

BASE = "/api/v1/ingestions"
LOCAL = {"type": "local", "file_pattern": "*.csv"}


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


# (case id, change to a valid body, expected field, words the message must contain)
CASES: list[tuple[str, Any, str, str]] = [
    (
        "invalid cron",
        {"schedule": {"frequency": "cron", "cron_expression": "61 * * * *"}},
        "schedule.cron_expression",
        "invalid cron_expression '61 * * * *'",
    ),
    (
        "cron with 6 fields",
        {"schedule": {"frequency": "cron", "cron_expression": "0 0 2 * * *"}},
        "schedule.cron_expression",
        "must have 5 fields",
    ),
    (
        "unknown timezone",
        {"schedule": {"frequency": "daily", "time": "02:00", "timezone": "Mars/Olympus"}},
        "schedule.timezone",
        "unknown timezone 'Mars/Olympus'; use an IANA name",
    ),
    (
        "unknown source type",
        {"source": {**LOCAL, "type": "dropbox", "path": "/x"}},
        "source.type",
        "unknown source type 'dropbox'; use one of local, s3, azure_blob, gcs, ftp, sftp",
    ),
    (
        "invalid S3 bucket name",
        {"source": {**LOCAL, "type": "s3", "path": "s3://Bad_Bucket/prefix/"}},
        "source.path",
        "'Bad_Bucket' is not a valid S3 bucket name",
    ),
    (
        "path outside the allowed roots",
        {"source": {**LOCAL, "path": "/etc"}},
        "source.path",
        "is outside the allowed local roots",
    ),
    ("relative path", {"source": {**LOCAL, "path": "landing"}}, "source.path", "must be absolute"),
    (
        "pattern with ..",
        {"source": {**LOCAL, "file_pattern": "../*.csv"}},
        "source.file_pattern",
        "must not contain '..'",
    ),
    (
        "credentials on a local source",
        {"source": {**LOCAL, "credentials": {"password": "x"}}},
        "source.credentials",
        "local sources take no credentials",
    ),
    (
        "malformed table name",
        {"destination": {"database": "sales", "table": "a.b; DROP"}},
        "destination.table",
        "'a.b; DROP' is not a valid name",
    ),
    ("unknown format", {"format": {"type": "xlsx"}}, "format.type", "unknown format 'xlsx'; use one of csv"),
    (
        "misspelt format option",
        {"format": {"type": "csv", "options": {"delimter": ";"}}},
        "format.options.delimter",
        "unknown option 'delimter' for csv; use one of compression, delimiter, encoding, escape, header",
    ),
    (
        "a CSV option on parquet",
        {"format": {"type": "parquet", "options": {"header": True}}},
        "format.options.header",
        "unknown option 'header' for parquet; use one of compression",
    ),
    (
        "merge without keys",
        {"destination": {"database": "s", "table": "t", "write_mode": "merge"}},
        "destination.merge_keys",
        "write_mode 'merge' needs merge_keys",
    ),
    (
        "unknown write mode",
        {"destination": {"database": "s", "table": "t", "write_mode": "replace"}},
        "destination.write_mode",
        "unknown write mode 'replace'; use one of append, overwrite, merge",
    ),
    (
        "unknown partition transform",
        {"destination": {"database": "s", "table": "t", "partitioning": {"enabled": True, "columns": ["week(at)"]}}},
        "destination.partitioning.columns[0]",
        "unknown transform 'week'",
    ),
    (
        "partition column not an identifier",
        {"destination": {"database": "s", "table": "t", "partitioning": {"enabled": True, "columns": ["a-b"]}}},
        "destination.partitioning.columns[0]",
        "'a-b' is not a partition field",
    ),
    ("bad on_error", {"errors": {"on_error": "explode"}}, "errors.on_error", "use one of fail_run"),
    (
        "non-positive limit",
        {"discovery": {"max_files_per_run": 0}},
        "discovery.max_files_per_run",
        "must be a positive integer",
    ),
    ("empty name", {"name": " "}, "name", "must not be empty"),
    ("wrong JSON type", {"name": 42}, "name", "Expected 'str', got 'int'"),
    ("unknown field", {"colour": "blue"}, "colour", "unknown field colour"),
    ("unknown hint type", {"format": {"type": "csv", "schema": {"hints": {"amount": "money"}}}},
     "format.schema.hints.amount", "money"),
    ("malformed user schema", {"format": {"type": "csv", "schema": {"schema_json": {"not": "a list"}}}},
     "format.schema.schema_json", "non-empty list"),
    (
        "unknown read_files mode",
        {"engine": {"read_files": "spark"}},
        "engine.read_files",
        "unknown read_files mode 'spark'; use one of auto, cluster, connector",
    ),
    (
        "cluster reads of an FTP server",
        {
            "source": {"type": "ftp", "path": "ftp://files.example.com/in/", "file_pattern": "*.csv"},
            "engine": {"read_files": "cluster"},
        },
        "engine.read_files",
        "an FTP/SFTP server cannot be read by a Spark cluster; use auto or connector",
    ),
    (
        "cluster reads of an SFTP server",
        {
            "source": {"type": "sftp", "path": "sftp://files.example.com/in/", "file_pattern": "*.csv"},
            "engine": {"read_files": "cluster"},
        },
        "engine.read_files",
        "an FTP/SFTP server cannot be read by a Spark cluster",
    ),
    (
        "cluster reads on the embedded cluster",
        {"engine": {"read_files": "cluster"}},
        "engine.read_files",
        "the embedded engine reads everything through connectors",
    ),
    ("unknown engine field", {"engine": {"reader": "cluster"}}, "engine.reader", "unknown field engine.reader"),
    # size and complexity limits: each says the rule
    ("pattern too long", {"source": {**LOCAL, "file_pattern": "a" * 1025}}, "source.file_pattern", "at most 1024"),
    (
        "pattern with too many **",
        {"source": {**LOCAL, "file_pattern": "**/" * 9 + "*.csv"}},
        "source.file_pattern",
        "send at most 8 '**'",
    ),
    ("path too long", {"source": {**LOCAL, "path": "/" + "a" * 2048}}, "source.path", "send at most 2048"),
    (
        "user schema with too many columns",
        {"format": {"type": "csv", "schema": {"schema_json": [{"name": f"c{i}", "type": "int"} for i in range(1001)]}}},
        "format.schema.schema_json",
        "has 1001 columns; send at most 1000",
    ),
    (
        "hint with a too long column name",
        {"format": {"type": "csv", "schema": {"hints": {"c" * 300: "int"}}}},
        "format.schema.hints." + "c" * 40,
        "column name has 300 characters; send at most 255",
    ),
    (
        "too many alert recipients",
        {"quality": {"alert_recipients": [f"a{i}@example.com" for i in range(65)]}},
        "quality.alert_recipients",
        "send at most 64",
    ),
    ("name too long", {"name": "n" * 129}, "name", "send at most 128"),
]


@pytest.mark.parametrize(("change", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_input_is_refused_precisely_and_nothing_is_stored(
    stack: ApiStack, change: dict[str, Any], field: str, words: str
) -> None:
    headers = await stack.tenant()
    body = stack.ingestion_body()
    if "source" in change and "path" not in change["source"]:
        change = {"source": {**change["source"], "path": str(stack.landing)}}
    body.update(change)

    response = await stack.client.post(BASE, json=body, headers=headers)

    found = problem(response, 422)
    assert field in [e["field"] for e in found["errors"]], found
    message = next(e["message"] for e in found["errors"] if e["field"] == field)
    assert words in message
    await _assert_nothing_stored(stack, headers)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("name",), "name"),
        (("source", "path"), "source.path"),
        (("destination", "table"), "destination.table"),
        (("format",), "format"),
    ],
)
async def test_missing_fields_are_named(stack: ApiStack, path: tuple[str, ...], field: str) -> None:
    headers = await stack.tenant()

    response = await stack.client.post(BASE, json=_without(stack.ingestion_body(), *path), headers=headers)

    found = problem(response, 422)
    assert found["errors"] == [{"field": field, "message": f"{field} is required; send it"}]
    await _assert_nothing_stored(stack, headers)


async def test_malformed_json_is_400(stack: ApiStack) -> None:
    headers = await stack.tenant() | {"content-type": "application/json"}

    response = await stack.client.post(BASE, content=b'{"name": "x",', headers=headers)

    assert "not valid JSON" in problem(response, 400)["detail"]
    await _assert_nothing_stored(stack, headers)


async def test_symlink_escaping_the_roots_is_refused(
    stack: ApiStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    headers = await stack.tenant()
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, stack.landing / "escape")
    body = stack.ingestion_body(source={**LOCAL, "path": str(stack.landing / "escape")})

    response = await stack.client.post(BASE, json=body, headers=headers)

    assert problem(response, 422)["errors"][0]["field"] == "source.path"
    await _assert_nothing_stored(stack, headers)


async def test_every_error_of_a_body_is_reported_at_once(stack: ApiStack) -> None:
    headers = await stack.tenant()
    body = stack.ingestion_body(
        name="",
        destination={"catalog": "1lake", "database": "sales", "table": "a.b; DROP"},
        schedule={"frequency": "daily", "time": "02:00", "timezone": "Nowhere/City"},
    )

    found = problem(await stack.client.post(BASE, json=body, headers=headers), 422)

    assert [e["field"] for e in found["errors"]] == [
        "name",
        "destination.catalog",
        "destination.table",
        "schedule.timezone",
    ]
    assert "destination.table" in found["detail"]


SPARK_CLUSTER = {"name": "prod-spark", "kind": "spark_connect", "url": "sc://spark.internal:15002"}


async def test_engine_read_files_is_stored_returned_and_checked_against_the_cluster(stack: ApiStack) -> None:
    headers = await stack.tenant()
    spark = await stack.client.post("/api/v1/clusters", json=SPARK_CLUSTER, headers=headers)
    assert spark.status_code == 201, spark.text
    embedded = (await stack.client.get("/api/v1/clusters", headers=headers)).json()["items"][0]["id"]

    default = await stack.create(headers)
    on_spark = await stack.create(headers, cluster_id=spark.json()["id"], engine={"read_files": "cluster"})
    url = f"{BASE}/{on_spark['id']}"
    to_connector = await stack.client.put(url, json={"engine": {"read_files": "connector"}}, headers=headers)
    bogus = await stack.client.put(url, json={"engine": {"read_files": "both"}}, headers=headers)
    back_to_cluster = await stack.client.put(url, json={"engine": {"read_files": "cluster"}}, headers=headers)
    to_embedded = await stack.client.put(url, json={"cluster_id": embedded}, headers=headers)
    default_to_cluster = await stack.client.put(
        f"{BASE}/{default['id']}", json={"engine": {"read_files": "cluster"}}, headers=headers
    )

    assert default["engine"] == {"read_files": "auto"}
    assert on_spark["engine"] == {"read_files": "cluster"}
    assert to_connector.status_code == 200, to_connector.text
    assert to_connector.json()["engine"] == {"read_files": "connector"}
    assert problem(bogus, 422)["errors"] == [
        {"field": "engine.read_files", "message": "unknown read_files mode 'both'; use one of auto, cluster, connector"}
    ]
    assert back_to_cluster.json()["engine"] == {"read_files": "cluster"}
    for refused in (to_embedded, default_to_cluster):  # the embedded cluster, named or by default
        errors = problem(refused, 422)["errors"]
        assert [e["field"] for e in errors] == ["engine.read_files"]
        assert "embedded engine reads everything through connectors" in errors[0]["message"]
    stored = (await stack.client.get(url, headers=headers)).json()
    assert (stored["cluster_id"], stored["engine"]) == (spark.json()["id"], {"read_files": "cluster"})


async def _assert_nothing_stored(stack: ApiStack, headers: dict[str, str]) -> None:
    listed = await stack.client.get(BASE, headers=headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    events = await EventStore(stack.bus).read_subject(aggregate_events("ingestion"))
    assert events == []



@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/alerts?ingestion_id=ing_%00x", "ingestion_id"),
        ("/api/v1/ingestions?q=orders%00", "q"),
        ("/api/v1/ingestions/ing_x%00y", "path"),
    ],
)
async def test_a_nul_character_in_the_url_is_refused_with_its_parameter(
    stack: ApiStack, url: str, field: str
) -> None:
    # Found by the long fuzz run: a NUL in a filter reached PostgreSQL, which refused it (500).
    headers = await stack.tenant()

    found = problem(await stack.client.get(url, headers=headers), 422)

    assert found["errors"] == [{"field": field, "message": NUL_MESSAGE}]


NUL_MESSAGE = "contains a NUL character (\\u0000, %00); remove it"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "orders\u0000"}, "name"),
        ({"destination": {"catalog": "lake", "database": "sales", "table": "t", "merge_keys": ["a\u0000"]}},
         "destination.merge_keys[0]"),
    ],
)
async def test_a_nul_character_in_the_body_is_refused_and_nothing_is_stored(
    stack: ApiStack, change: dict[str, Any], field: str
) -> None:
    # Was accepted (201) into the event log, where every projection of the event would then fail.
    headers = await stack.tenant()
    body = stack.ingestion_body() | change

    found = problem(await stack.client.post(BASE, json=body, headers=headers), 422)

    assert found["errors"] == [{"field": field, "message": NUL_MESSAGE}]
    await _assert_nothing_stored(stack, headers)
