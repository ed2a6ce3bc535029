"""Write modes and lineage through the HTTP API: merge upserts, overwrite replaces, lineage on/off."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

LINEAGE = ["_source_file", "_source_modified_at", "_ingest_run_id", "_ingested_at"]


def write_rows(path: Path, rows: list[tuple[int, str]]) -> None:
    """Write a CSV with columns id, name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["id,name", *[f"{i},{name}" for i, name in rows]]) + "\n")


def run_ok(api: Api, ingestion_id: str) -> dict[str, Any]:
    run = api.wait_run(ingestion_id, api.run(ingestion_id))
    assert run["status"] == "success", run
    return run


def by_id(api: Api, ingestion_id: str) -> dict[int, dict[str, Any]]:
    rows = api.sample(ingestion_id, limit=10000)
    found = {row["id"]: row for row in rows}
    assert len(found) == len(rows), f"duplicate ids: {sorted(r['id'] for r in rows)}"
    return found


def test_merge_mode_second_file_updates_existing_keys(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("customers")
    write_rows(folder / "day1.csv", [(i, f"v1-{i}") for i in range(100)])
    destination = {"database": "e2e", "table": unique("cust"), "write_mode": "merge", "merge_keys": ["id"]}
    ingestion = api.create(api.ingestion_body(folder, table=destination["table"], destination=destination))
    run_ok(api, ingestion["id"])

    write_rows(folder / "day2.csv", [(i, f"v2-{i}") for i in range(90, 120)])
    second = run_ok(api, ingestion["id"])

    rows = by_id(api, ingestion["id"])
    assert len(rows) == 120
    assert api.table(ingestion["id"])["row_count"] == 120
    assert {i: rows[i]["name"] for i in (0, 89, 90, 99, 100, 119)} == {
        0: "v1-0",
        89: "v1-89",
        90: "v2-90",
        99: "v2-99",
        100: "v2-100",
        119: "v2-119",
    }
    assert {rows[i]["_source_file"] for i in range(90, 120)} == {"day2.csv"}
    assert {rows[i]["_ingest_run_id"] for i in range(90, 120)} == {second["id"]}


def test_merge_without_keys_is_refused(api: Api, stack: Stack) -> None:
    destination = {"database": "e2e", "table": "t", "write_mode": "merge"}
    response = api.http.post(
        "/ingestions", json=api.ingestion_body(stack.landing_dir, table="t", destination=destination)
    )

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["destination.merge_keys"]


def test_overwrite_mode_second_run_leaves_only_its_files_rows(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("snapshot")
    write_rows(folder / "a.csv", [(i, "a") for i in range(50)])
    destination = {"database": "e2e", "table": unique("snap"), "write_mode": "overwrite"}
    ingestion = api.create(api.ingestion_body(folder, table=destination["table"], destination=destination))
    run_ok(api, ingestion["id"])
    assert api.table(ingestion["id"])["row_count"] == 50

    write_rows(folder / "b.csv", [(i, "b") for i in range(1000, 1010)])
    write_rows(folder / "c.csv", [(i, "c") for i in range(2000, 2005)])
    second = run_ok(api, ingestion["id"])

    rows = by_id(api, ingestion["id"])
    assert sorted(rows) == [*range(1000, 1010), *range(2000, 2005)]
    assert {row["_source_file"] for row in rows.values()} == {"b.csv", "c.csv"}
    assert {row["_ingest_run_id"] for row in rows.values()} == {second["id"]}
    assert api.table(ingestion["id"])["row_count"] == 15


def test_lineage_columns_hold_file_run_and_times_and_can_be_switched_off(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("lineage")
    write_rows(folder / "sub" / "x.csv", [(1, "a"), (2, "b")])
    modified = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    os.utime(folder / "sub" / "x.csv", (modified.timestamp(), modified.timestamp()))
    body = api.ingestion_body(folder, table=unique("lin"))
    body["source"]["file_pattern"] = "**/*.csv"
    with_lineage = api.create(body)
    run = run_ok(api, with_lineage["id"])

    columns = [c["name"] for c in api.table(with_lineage["id"])["schema"]]
    assert columns == ["id", "name", *LINEAGE]
    rows = by_id(api, with_lineage["id"])
    assert {r["_source_file"] for r in rows.values()} == {"sub/x.csv"}
    assert {datetime.fromisoformat(r["_source_modified_at"]) for r in rows.values()} == {modified}
    assert {r["_ingest_run_id"] for r in rows.values()} == {run["id"]}
    assert len({r["_ingested_at"] for r in rows.values()}) == 1

    off = api.ingestion_body(folder, table=unique("nolin"))
    off["source"]["file_pattern"] = "**/*.csv"
    off["destination"]["lineage_columns"] = False
    without = api.create(off)
    run_ok(api, without["id"])

    assert [c["name"] for c in api.table(without["id"])["schema"]] == ["id", "name"]
    assert sorted(by_id(api, without["id"])) == [1, 2]
