"""Schema evolution through the HTTP API: add_new_columns, fail + resolve, rescue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

BASE = ["id", "name", "amount", "city", "active"]
EXTRA = ["country", "score"]


def write_jsonl(path: Path, first_id: int, rows: int, *, extra: bool = False) -> None:
    """``rows`` JSON lines with the 5 base fields (and the 2 extra ones when ``extra``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(first_id, first_id + rows):
        row: dict[str, Any] = {"id": i, "name": f"n{i}", "amount": i * 1.5, "city": f"c{i % 7}", "active": i % 2 == 0}
        if extra:
            row.update(country=f"k{i % 3}", score=i % 100)
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")


def json_ingestion(api: Api, folder: Path, mode: str) -> dict[str, Any]:
    body = api.ingestion_body(folder, table=unique("evo"))
    body["source"]["file_pattern"] = "*.json"
    body["format"] = {"type": "json", "schema": {"evolution_mode": mode}}
    return api.create(body)


def first_run(stack: Stack, api: Api, mode: str) -> tuple[Path, dict[str, Any]]:
    """Create the ingestion over 3 files of 5 fields and load them (3,000 rows)."""
    folder = stack.landing_dir / unique("evo")
    for n in range(3):
        write_jsonl(folder / f"part-{n}.json", n * 1000, 1000)
    ingestion = json_ingestion(api, folder, mode)
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 3000
    return folder, ingestion


def add_wider_files(folder: Path) -> None:
    for n in (3, 4):
        write_jsonl(folder / f"part-{n}.json", n * 1000, 1000, extra=True)


def column_names(api: Api, ingestion_id: str) -> list[str]:
    return [c["name"] for c in api.table(ingestion_id)["schema"]]


def assert_old_rows_null_in_new_columns(api: Api, ingestion_id: str) -> None:
    rows = api.sample(ingestion_id, limit=10000, columns="id,country,score")
    assert len(rows) == 5000
    old = [r for r in rows if r["id"] < 3000]
    new = [r for r in rows if r["id"] >= 3000]
    assert len(old) == 3000
    assert all(r["country"] is None and r["score"] is None for r in old)
    assert all(r["country"] == f"k{r['id'] % 3}" and r["score"] == r["id"] % 100 for r in new)


def test_add_new_columns_evolves_the_table(stack: Stack, api: Api) -> None:
    folder, ingestion = first_run(stack, api, "add_new_columns")
    assert [c for c in column_names(api, ingestion["id"]) if c in BASE + EXTRA] == BASE

    add_wider_files(folder)
    second = api.wait_run(ingestion["id"], api.run(ingestion["id"]))

    assert second["status"] == "success", second
    assert [c for c in column_names(api, ingestion["id"]) if c in BASE + EXTRA] == BASE + EXTRA
    assert api.table(ingestion["id"])["row_count"] == 5000
    assert_old_rows_null_in_new_columns(api, ingestion["id"])
    versions = api.http.get(f"/ingestions/{ingestion['id']}/schema-versions").json()["items"]
    assert [(v["version"], v["status"], v["resolution"]) for v in versions] == [(1, "applied", "auto_applied")]
    assert sorted(c["name"] for c in versions[0]["diff"]["added"]) == EXTRA


def test_fail_mode_waits_for_a_resolution_then_loads_the_files(stack: Stack, api: Api) -> None:
    folder, ingestion = first_run(stack, api, "fail")
    add_wider_files(folder)

    failed = api.wait_run(ingestion["id"], api.run(ingestion["id"]))

    assert failed["status"] == "failed", failed
    assert {e["error_type"] for e in failed["errors"]} == {"schema_change"}
    fetched = api.http.get(f"/ingestions/{ingestion['id']}").json()
    assert fetched["status"] == "error"
    assert fetched["metadata"]["schema_version"] == 1
    versions = api.http.get(f"/ingestions/{ingestion['id']}/schema-versions").json()
    assert versions["next_cursor"] is None
    [pending] = versions["items"]
    assert (pending["version"], pending["status"], pending["mode"]) == (1, "pending", "fail")
    assert sorted((c["name"], c["new_type"]) for c in pending["diff"]["added"]) == [
        ("country", "string"),
        ("score", "int64"),
    ]
    assert pending["diff"]["changed"] == []
    assert sorted(pending["files"]) == ["part-3.json", "part-4.json"]
    skipped = api.http.post(f"/ingestions/{ingestion['id']}/run")
    assert skipped.status_code == 202
    skipped_run = api.wait_run(ingestion["id"], skipped.json()["run_id"])
    assert skipped_run["status"] == "skipped"
    assert skipped_run["skip_reason"] == "ingestion is in error: resolve schema version 1"

    resolved = api.http.post(f"/ingestions/{ingestion['id']}/schema-versions/1/resolve", json={"action": "auto_merge"})

    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution"] == "auto_merge"
    assert resolved.json()["resolved_by"]
    assert api.http.get(f"/ingestions/{ingestion['id']}").json()["status"] == "active"
    again = api.http.post(f"/ingestions/{ingestion['id']}/schema-versions/1/resolve", json={"action": "ignore"})
    assert again.status_code == 409, again.text
    third = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert third["status"] == "success", third
    assert third["metrics"]["files_processed"] == 2
    assert api.table(ingestion["id"])["row_count"] == 5000
    assert [c for c in column_names(api, ingestion["id"]) if c in BASE + EXTRA] == BASE + EXTRA
    assert_old_rows_null_in_new_columns(api, ingestion["id"])
    # loading the accepted change records no new schema version and leaves the ingestion active
    after = api.http.get(f"/ingestions/{ingestion['id']}").json()
    assert (after["status"], after["metadata"]["schema_version"]) == ("active", 1)
    versions = api.http.get(f"/ingestions/{ingestion['id']}/schema-versions").json()["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "resolved")]


def test_rescue_mode_keeps_extra_fields_as_json(stack: Stack, api: Api) -> None:
    folder, ingestion = first_run(stack, api, "rescue")
    add_wider_files(folder)

    second = api.wait_run(ingestion["id"], api.run(ingestion["id"]))

    assert second["status"] == "success", second
    names = column_names(api, ingestion["id"])
    assert "_rescued_data" in names
    assert not set(EXTRA) & set(names)
    rows = api.sample(ingestion["id"], limit=10000, columns="id,_rescued_data")
    assert len(rows) == 5000
    assert all(r["_rescued_data"] is None for r in rows if r["id"] < 3000)
    new = [r for r in rows if r["id"] >= 3000]
    assert len(new) == 2000
    assert all(json.loads(r["_rescued_data"]) == {"country": f"k{r['id'] % 3}", "score": r["id"] % 100} for r in new)


def test_legacy_evolution_enabled_false_means_fail(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("legacy")
    folder.mkdir()
    body = api.ingestion_body(folder, table=unique("legacy"))
    body["format"] = {"type": "json", "schema": {"evolution_enabled": False}}

    created = api.create(body)

    assert created["format"]["schema"]["evolution_mode"] == "fail"


def test_ignore_resolution_loads_the_files_without_the_new_columns(stack: Stack, api: Api) -> None:
    folder, ingestion = first_run(stack, api, "fail")
    add_wider_files(folder)
    failed = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert failed["status"] == "failed", failed

    resolved = api.http.post(f"/ingestions/{ingestion['id']}/schema-versions/1/resolve", json={"action": "ignore"})
    third = api.wait_run(ingestion["id"], api.run(ingestion["id"]))

    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "ignore"
    assert third["status"] == "success", third
    assert third["metrics"]["records_ingested"] == 2000
    assert [c for c in column_names(api, ingestion["id"]) if c in BASE + EXTRA] == BASE
    assert api.table(ingestion["id"])["row_count"] == 5000


def test_resolving_an_unknown_or_applied_version_is_refused(stack: Stack, api: Api) -> None:
    folder, ingestion = first_run(stack, api, "add_new_columns")
    add_wider_files(folder)
    assert api.wait_run(ingestion["id"], api.run(ingestion["id"]))["status"] == "success"
    url = f"/ingestions/{ingestion['id']}/schema-versions"

    applied = api.http.post(f"{url}/1/resolve", json={"action": "auto_merge"})
    unknown = api.http.post(f"{url}/9/resolve", json={"action": "auto_merge"})
    invalid = api.http.post(f"{url}/1/resolve", json={"action": "drop"})

    assert applied.status_code == 409, applied.text
    assert unknown.status_code == 404, unknown.text
    assert invalid.status_code in {400, 422}, invalid.text
