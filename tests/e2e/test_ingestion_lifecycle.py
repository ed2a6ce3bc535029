"""The walking skeleton through the HTTP API: runs load each new file exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, write_csv

pytestmark = pytest.mark.e2e


def test_runs_load_only_new_files_exactly_once(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("orders")
    for n in range(3):
        write_csv(folder / f"orders-{n}.csv", n * 1000, 1000)
    ingestion = api.create(api.ingestion_body(folder, table=unique("orders")))
    assert ingestion["status"] == "draft"

    first = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert first["status"] == "success", first
    assert first["metrics"]["files_processed"] == 3
    assert first["metrics"]["records_ingested"] == 3000
    assert first["trigger"] == "manual"
    assert api.table(ingestion["id"])["row_count"] == 3000

    for n in (3, 4):
        write_csv(folder / f"orders-{n}.csv", n * 1000, 1000)
    second = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert second["status"] == "success", second
    assert second["metrics"]["files_processed"] == 2
    assert second["metrics"]["records_ingested"] == 2000
    table = api.table(ingestion["id"])
    assert table["row_count"] == 5000
    assert [s["summary"]["autoloader.run-id"] for s in table["snapshots"][-2:]] == [first["id"], second["id"]]
    ids = [row["id"] for row in api.sample(ingestion["id"], limit=10000, columns="id")]
    assert sorted(ids) == list(range(5000))

    third = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    assert third["status"] == "success", third
    assert third["metrics"]["files_processed"] == 0
    assert api.table(ingestion["id"])["row_count"] == 5000

    ledger = api.http.get(f"/ingestions/{ingestion['id']}/files", params={"limit": 100}).json()["items"]
    assert sorted((f["path"], f["state"]) for f in ledger) == [(f"orders-{n}.csv", "loaded") for n in range(5)]
    assert [r["id"] for r in api.runs(ingestion["id"])] == [third["id"], second["id"], first["id"]]
    fetched = api.http.get(f"/ingestions/{ingestion['id']}").json()
    assert fetched["metadata"]["last_run_id"] == third["id"]


def _scheduled_runs(api: Api, ingestion_id: str) -> int:
    return sum(1 for run in api.runs(ingestion_id) if run["trigger"] == "scheduled")


def _wait_for_scheduled(api: Api, ingestion_id: str, at_least: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = _scheduled_runs(api, ingestion_id)
        if count >= at_least:
            return count
        time.sleep(0.25)
    raise AssertionError(f"expected {at_least} scheduled runs, saw {_scheduled_runs(api, ingestion_id)}")


def test_pause_stops_scheduled_runs_and_resume_restarts_them(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("ticks")
    folder.mkdir()
    body = api.ingestion_body(
        folder,
        table=unique("ticks"),
        activate=True,
        schedule={"frequency": "cron", "cron_expression": "* * * * *", "timezone": "UTC"},
    )
    ingestion = api.create(body)
    assert ingestion["status"] == "active"
    # The stack's scheduler runs 60x faster: an every-minute cron fires every real second.
    before_pause = _wait_for_scheduled(api, ingestion["id"], 2)

    paused = api.http.post(f"/ingestions/{ingestion['id']}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    time.sleep(2.0)  # let a tick that was already in flight land
    settled = _scheduled_runs(api, ingestion["id"])
    assert settled >= before_pause
    time.sleep(5.0)  # five simulated minutes
    assert _scheduled_runs(api, ingestion["id"]) == settled

    resumed = api.http.post(f"/ingestions/{ingestion['id']}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "active"
    _wait_for_scheduled(api, ingestion["id"], settled + 2)


def test_delete_makes_the_ingestion_disappear(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("gone")
    ingestion = api.create(api.ingestion_body(folder, table=unique("gone")))
    assert api.http.delete(f"/ingestions/{ingestion['id']}").status_code == 204
    assert api.http.get(f"/ingestions/{ingestion['id']}").status_code == 404
    assert api.http.get(f"/ingestions/{ingestion['id']}/runs").status_code == 404
    assert api.http.post(f"/ingestions/{ingestion['id']}/run").status_code == 404
    assert api.http.get("/ingestions").json()["items"] == []


def test_tenants_are_isolated_and_keys_required(stack: Stack, api: Api, tenants: Callable[[], Api]) -> None:
    ingestion = api.create(api.ingestion_body(stack.landing_dir / "x", table=unique("iso")))
    other = tenants()
    assert other.http.get(f"/ingestions/{ingestion['id']}").status_code == 404
    assert other.http.post(f"/ingestions/{ingestion['id']}/run").status_code == 404
    assert other.http.get("/ingestions").json()["items"] == []
    for hostile in ("*", ">", "a.b", ingestion["id"] + ".*"):
        assert other.http.get(f"/ingestions/{hostile}").status_code == 404
        assert other.http.post(f"/ingestions/{hostile}/run").status_code == 404
    anonymous = httpx.get(f"{stack.api_url}/api/v1/ingestions", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    wrong = httpx.get(f"{stack.api_url}/api/v1/ingestions", headers={"Authorization": "Bearer al_nope"}, timeout=10)
    assert wrong.status_code == 401


def test_pausing_a_draft_is_a_conflict(stack: Stack, api: Api) -> None:
    ingestion = api.create(api.ingestion_body(stack.landing_dir / "d", table=unique("draft")))
    response = api.http.post(f"/ingestions/{ingestion['id']}/pause")
    assert response.status_code == 409
    assert "draft" in response.json()["detail"]
    assert api.http.get(f"/ingestions/{ingestion['id']}").json()["status"] == "draft"


BAD_INPUTS = [
    ("invalid cron", {"schedule": {"frequency": "cron", "cron_expression": "61 * * * *"}}, "cron_expression"),
    (
        "unknown timezone",
        {"schedule": {"frequency": "daily", "time": "02:00", "timezone": "Mars/Olympus"}},
        "timezone",
    ),
    ("unknown source type", {"source": {"type": "carrier-pigeon", "path": "/x"}}, "source.type"),
    ("path outside roots", {"source": {"type": "local", "path": "/etc"}}, "source.path"),
    ("path traversal", {"source": {"type": "local", "path": "{landing}/../../etc"}}, "source.path"),
    (
        "malformed table",
        {"destination": {"catalog": "lake", "database": "db", "table": "a.b; DROP"}},
        "destination.table",
    ),
]


@pytest.mark.parametrize(("case", "override", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_precisely_and_nothing_is_stored(
    stack: Stack, api: Api, case: str, override: dict[str, object], field: str
) -> None:
    body = api.ingestion_body(stack.landing_dir / "ok", table=unique("bad"))
    if "source" in override:
        source = dict(override["source"])  # type: ignore[call-overload]
        source["path"] = str(source["path"]).replace("{landing}", str(stack.landing_dir))
        override = {"source": source}
    body.update(override)
    response = api.http.post("/ingestions", json=body)
    assert 400 <= response.status_code < 500, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in str(problem), problem
    assert api.http.get("/ingestions").json()["items"] == []


@pytest.mark.parametrize("missing", ["name", "source", "format", "destination"])
def test_missing_fields_are_named(stack: Stack, api: Api, missing: str) -> None:
    body = api.ingestion_body(stack.landing_dir / "ok", table=unique("bad"))
    del body[missing]
    response = api.http.post("/ingestions", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert missing in str(response.json())
    assert api.http.get("/ingestions").json()["items"] == []
