"""Preview, cost, run control and monitoring end to end, through the HTTP API only (issue 14)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, write_csv

pytestmark = pytest.mark.e2e

LINEAGE = {"_ingest_run_id", "_ingested_at"}
"""Columns whose values a preview cannot know in advance (the run id and the load time)."""


def csv_folder(root: Path, files: dict[str, tuple[int, int]]) -> Path:
    """A folder of CSVs named as given, each ``(first_id, rows)``."""
    folder = root / unique("in")
    for name, (first_id, rows) in files.items():
        write_csv(folder / name, first_id, rows)
    return folder


def set_modified(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def preview(api: Api, ingestion_id: str, **params: Any) -> dict[str, Any]:
    response = api.http.post(f"/ingestions/{ingestion_id}/preview", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def run_ok(api: Api, ingestion_id: str) -> dict[str, Any]:
    run = api.wait_run(ingestion_id, api.run(ingestion_id))
    assert run["status"] == "success", run
    return run


def wait_idle(api: Api, ingestion_id: str, timeout: float = 60.0) -> None:
    """Wait until no run of the ingestion is queued or running (an operation's run, for instance)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r["status"] not in ("queued", "running") for r in api.runs(ingestion_id)):
            return
        time.sleep(0.25)
    raise AssertionError(f"runs of {ingestion_id} still active after {timeout}s: {api.runs(ingestion_id)}")


def operate(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return api.http.request(method, path, json=body)


def without_lineage(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in LINEAGE} for row in rows]


def table_ids(api: Api, ingestion_id: str) -> list[int]:
    rows = api.sample(ingestion_id, limit=1000)
    return sorted(int(r["id"]) for r in rows)


def event_types(api: Api, ingestion_id: str) -> list[str]:
    response = api.http.get(f"/ingestions/{ingestion_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [item["type"] for item in response.json()["items"]]


# --- preview ---------------------------------------------------------------------------------


def test_preview_of_a_draft_shows_what_the_first_run_loads_and_writes_nothing(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 30), "b.csv": (30, 20)})
    body = api.ingestion_body(folder, table=unique("preview"))

    response = api.http.post("/ingestions/test", json=body, params={"sample_rows": 25})

    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["connection"]["reachable"]
    assert shown["connection"]["authorised"]
    assert (shown["files"]["count"], shown["file_count"], shown["files"]["count_is_lower_bound"]) == (2, 2, False)
    assert sorted(Path(f["path"]).name for f in shown["files"]["first"]) == ["a.csv", "b.csv"]
    assert shown["files"]["bytes"] == sum((folder / n).stat().st_size for n in ("a.csv", "b.csv"))
    columns = {c["name"]: c["type"] for c in shown["schema"]}
    assert {"id", "name", "amount", "_source_file", "_ingest_run_id", "_ingested_at"} <= set(columns)
    assert len(shown["sample_data"]) == 25
    assert shown["schema_diff"]["table_exists"] is False
    assert shown["schema_diff"]["action"] == "create_table"
    assert shown["malformed"]["count"] == 0
    assert shown["estimated_records"] == 50  # every byte was sampled, so the count is exact
    assert shown["cost"]["currency"] == "USD"
    # nothing was created: no ingestion (and, checked below, no table)
    assert api.http.get("/ingestions").json()["items"] == []

    ingestion = api.create(body)
    history = event_types(api, ingestion["id"])
    saved = preview(api, ingestion["id"], sample_rows=25)
    assert event_types(api, ingestion["id"]) == history  # a preview appends no event
    assert saved["files"]["count"] == 2
    assert saved["sample_data"] == shown["sample_data"] or without_lineage(saved["sample_data"]) == without_lineage(
        shown["sample_data"]
    )
    assert api.runs(ingestion["id"]) == []
    assert api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"] == []
    assert api.http.get(f"/ingestions/{ingestion['id']}/table").status_code == 404

    run = run_ok(api, ingestion["id"])

    assert run["metrics"]["records_ingested"] == shown["estimated_records"]
    assert sorted(Path(f["path"]).name for f in run["files"]) == ["a.csv", "b.csv"]
    table = api.table(ingestion["id"])
    written = {c["name"]: c["type"] for c in table["schema"]}
    assert written == columns
    loaded = without_lineage(api.sample(ingestion["id"], limit=1000))
    for row in without_lineage(shown["sample_data"]):
        assert row in loaded


def test_preview_of_a_saved_ingestion_takes_only_new_files_and_reports_the_schema_change(
    stack: Stack, api: Api
) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 10)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("next")))
    run_ok(api, ingestion["id"])
    (folder / "b.csv").write_text("id,name,amount,country\n100,x,1.5,DE\n101,y,2.5,FR\n")

    shown = preview(api, ingestion["id"])

    assert shown["files"]["count"] == 1
    assert shown["files"]["already_known"] == 1
    assert [Path(f["path"]).name for f in shown["files"]["first"]] == ["b.csv"]
    assert shown["schema_diff"]["table_exists"] is True
    assert [c["name"] for c in shown["schema_diff"]["added"]] == ["country"]
    assert shown["schema_diff"]["action"] == "add_columns"
    assert [r["country"] for r in shown["sample_data"]] == ["DE", "FR"]
    assert api.table(ingestion["id"])["row_count"] == 10  # the preview changed nothing
    assert "country" not in {c["name"] for c in api.table(ingestion["id"])["schema"]}
    assert len(api.runs(ingestion["id"])) == 1


def test_preview_lists_malformed_records_with_file_and_line(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("bad")
    folder.mkdir(parents=True)
    (folder / "rows.csv").write_text("id,name,amount\n1,a,1.0\n2,b,2.0,extra\n3,c,3.0\n")
    body = api.ingestion_body(folder, table=unique("malformed"))

    response = api.http.post("/ingestions/test", json=body)

    assert response.status_code == 200, response.text
    malformed = response.json()["malformed"]
    assert malformed["count"] >= 1, malformed
    assert malformed["records"][0]["file"].endswith("rows.csv")
    assert "expected 3 columns, found 4" in malformed["records"][0]["message"]


def test_preview_of_an_unreachable_source_is_200_and_says_why(stack: Stack, api: Api) -> None:
    body = api.ingestion_body(stack.landing_dir / "does-not-exist", table=unique("missing"))

    response = api.http.post("/ingestions/test", json=body)

    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["files"]["count"] == 0
    assert shown["connection"]["message"]
    assert shown["sample_data"] == []


def test_preview_refuses_an_invalid_configuration_naming_the_field(stack: Stack, api: Api) -> None:
    body = api.ingestion_body(stack.landing_dir, table="not a valid name!")

    response = api.http.post("/ingestions/test", json=body)

    assert response.status_code == 422, response.text
    assert "destination.table" in response.text
    assert api.http.post("/ingestions/test", json=body, params={"sample_rows": 0}).status_code in (400, 422)


# --- cost ------------------------------------------------------------------------------------


def test_cost_estimate_of_a_draft_and_after_runs_of_the_ingestion(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 200)})
    body = api.ingestion_body(folder, table=unique("cost"), schedule={"frequency": "daily", "time": "02:00"})

    draft = api.http.post("/ingestions/estimate-cost", json=body)

    assert draft.status_code == 200, draft.text
    estimate = draft.json()
    assert estimate["runs_per_month"] in (28, 29, 30, 31)
    assert estimate["bytes_per_run"] == (folder / "a.csv").stat().st_size
    assert estimate["files_per_run"] == 1
    assert estimate["total_monthly"] == pytest.approx(
        estimate["compute_monthly"] + estimate["storage_monthly"] + estimate["discovery_monthly"], rel=1e-3
    )
    assert estimate["always_on_cluster_hours"] > estimate["cluster_hours_per_month"]
    assert estimate["assumptions"]["throughput_source"] == "default"
    overridden = api.http.post("/ingestions/estimate-cost", json={**body, "bytes_per_run": 10**9}).json()
    assert overridden["compute_per_run"] >= estimate["compute_per_run"]
    assert overridden["estimated_duration_seconds"] > estimate["estimated_duration_seconds"]

    ingestion = api.create({**body, "schedule": {"frequency": "manual"}})
    # the embedded engine is free by default; an hourly price makes estimated and actual money comparable
    embedded = next(c for c in api.http.get("/clusters").json()["items"] if c["kind"] == "embedded")
    priced = api.http.put(
        f"/clusters/{embedded['id']}", json={"pricing": {"units_per_node_hour": 1.0, "price_per_unit": 0.5}}
    )
    assert priced.status_code == 200, priced.text
    for n in range(3):
        # big enough that a run's time is mostly reading, so its throughput is measured, not assumed
        write_csv(folder / f"more-{n}.csv", 1_000_000 * (n + 1), 150_000)
        run = run_ok(api, ingestion["id"])
        assert run["cost"]["currency"] == "USD"
        assert run["cost"]["estimated"] is not None
        assert run["cost"]["actual"] is not None

    saved = api.http.post("/ingestions/estimate-cost", json={"ingestion_id": ingestion["id"], "runs_per_month": 30})
    assert saved.status_code == 200, saved.text
    assert saved.json()["runs_per_month"] == 30
    assert saved.json()["assumptions"]["throughput_source"] == "history"
    metrics = api.http.get(f"/ingestions/{ingestion['id']}/metrics", params={"days": 7}).json()
    assert metrics["estimate_accuracy_percent"] is not None
    assert metrics["cost"]["actual"] >= 0
    described = api.http.get(f"/ingestions/{ingestion['id']}").json()
    assert described["metadata"]["estimated_monthly_cost"] is not None


def test_cost_estimate_refuses_a_body_without_a_configuration(stack: Stack, api: Api) -> None:
    response = api.http.post("/ingestions/estimate-cost", json={"bytes_per_run": 5})

    assert response.status_code in (400, 422), response.text
    assert "source" in response.text
    unknown = api.http.post("/ingestions/estimate-cost", json={"ingestion_id": "ing_doesnotexist00000000000000"})
    assert unknown.status_code == 404


# --- run control -----------------------------------------------------------------------------


def test_full_refresh_reloads_every_file_into_a_new_table(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 10), "b.csv": (10, 10)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("full")))
    path = f"/ingestions/{ingestion['id']}/refresh/full"
    run_ok(api, ingestion["id"])

    refused = operate(api, "POST", path, {})
    assert refused.status_code == 400, refused.text
    assert "confirm" in refused.text
    dry = operate(api, "POST", path, {"dry_run": True})
    assert dry.status_code == 200, dry.text
    assert [(o["operation"], o["status"]) for o in dry.json()["would_perform"]] == [
        ("table_dropped", "planned"),
        ("processed_files_cleared", "planned"),
        ("run_triggered", "planned"),
    ]
    assert dry.json()["impact"]["files_to_process"] == 2
    assert dry.json()["impact"]["estimated_rows"] == 20
    assert dry.json()["run_id"] is None
    assert len(api.runs(ingestion["id"])) == 1
    assert api.table(ingestion["id"])["row_count"] == 20

    accepted = operate(api, "POST", path, {"confirm": True})

    assert accepted.status_code == 202, accepted.text
    answer = accepted.json()
    assert [o["operation"] for o in answer["operations"]] == [
        "table_dropped",
        "processed_files_cleared",
        "run_triggered",
    ]
    run = api.wait_run(ingestion["id"], answer["run_id"])
    assert run["status"] == "success", run
    assert run["trigger"] == "refresh"
    assert run["metrics"]["files_processed"] == answer["impact"]["files_to_process"] == 2
    assert api.table(ingestion["id"])["row_count"] == 20  # not 40: the old table was dropped
    assert table_ids(api, ingestion["id"]) == list(range(20))
    types = event_types(api, ingestion["id"])
    assert {"run.table_dropped.v1", "run.processed_files_cleared.v1"} <= set(types)


def test_new_only_refresh_keeps_the_ledger(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 10)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("newonly")))
    run_ok(api, ingestion["id"])
    write_csv(folder / "b.csv", 100, 5)
    path = f"/ingestions/{ingestion['id']}/refresh/new-only"

    dry = operate(api, "POST", path, {"dry_run": True}).json()
    assert (dry["impact"]["files_to_process"], dry["impact"]["files_skipped"]) == (1, 1)
    accepted = operate(api, "POST", path, {"confirm": True})

    assert accepted.status_code == 202, accepted.text
    run = api.wait_run(ingestion["id"], accepted.json()["run_id"])
    assert run["status"] == "success", run
    assert table_ids(api, ingestion["id"]) == list(range(100, 105))


def test_reset_marks_present_files_seen_and_backfill_loads_a_window(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"jan.csv": (0, 3), "feb.csv": (100, 3), "mar.csv": (200, 3)})
    for name, month in (("jan.csv", 1), ("feb.csv", 2), ("mar.csv", 3)):
        set_modified(folder / name, datetime(2026, month, 10, tzinfo=UTC))
    ingestion = api.create(api.ingestion_body(folder, table=unique("window")))
    base = f"/ingestions/{ingestion['id']}"

    dry = operate(api, "POST", f"{base}/reset", {"dry_run": True}).json()
    assert dry["impact"]["files_skipped"] == 3
    assert dry["impact"]["files_to_process"] == 0
    reset = operate(api, "POST", f"{base}/reset", {"confirm": True})
    assert reset.status_code == 202, reset.text
    assert reset.json()["run_id"] is None
    wait_idle(api, ingestion["id"])
    nothing = run_ok(api, ingestion["id"])
    assert nothing["metrics"]["files_processed"] == 0

    window = {"from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    assert operate(api, "POST", f"{base}/backfill", window).status_code == 400  # no confirm
    assert (
        operate(api, "POST", f"{base}/backfill", {**window, "to": window["from"], "confirm": True}).status_code == 422
    )
    dry = operate(api, "POST", f"{base}/backfill", {**window, "dry_run": True}).json()
    assert dry["impact"]["files_to_process"] == 1
    accepted = operate(api, "POST", f"{base}/backfill", {**window, "confirm": True})
    assert accepted.status_code == 202, accepted.text
    run = api.wait_run(ingestion["id"], accepted.json()["run_id"])

    assert run["status"] == "success", run
    assert run["trigger"] == "backfill"
    assert [Path(f["path"]).name for f in run["files"]] == ["feb.csv"]
    assert table_ids(api, ingestion["id"]) == [100, 101, 102]
    write_csv(folder / "apr.csv", 300, 2)  # arrives after the reset: the next run takes it
    assert run_ok(api, ingestion["id"])["metrics"]["files_processed"] == 1


def test_backfill_loads_files_skipped_at_activation(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"old.csv": (0, 4)})
    set_modified(folder / "old.csv", datetime(2026, 5, 5, tzinfo=UTC))
    ingestion = api.create(
        api.ingestion_body(
            folder, table=unique("skipped"), discovery={"include_existing_files": False}, activate=True
        )
    )
    assert run_ok(api, ingestion["id"])["metrics"]["files_processed"] == 0

    accepted = operate(
        api,
        "POST",
        f"/ingestions/{ingestion['id']}/backfill",
        {"from": "2026-05-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", "confirm": True},
    )

    assert accepted.status_code == 202, accepted.text
    run = api.wait_run(ingestion["id"], accepted.json()["run_id"])
    assert run["metrics"]["files_processed"] == 1
    assert table_ids(api, ingestion["id"]) == [0, 1, 2, 3]


def test_forgetting_processed_files_loads_them_again_and_keeps_the_rows(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 5)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("forget")))
    base = f"/ingestions/{ingestion['id']}"
    run_ok(api, ingestion["id"])

    assert api.http.delete(f"{base}/processed-files").status_code == 400
    dry = api.http.delete(f"{base}/processed-files", params={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    assert [o["operation"] for o in dry.json()["would_perform"]] == ["processed_files_cleared"]
    assert len(api.http.get(f"{base}/files").json()["items"]) == 1
    forgotten = api.http.delete(f"{base}/processed-files", params={"confirm": "true"})
    assert forgotten.status_code == 202, forgotten.text
    wait_idle(api, ingestion["id"])

    assert api.http.get(f"{base}/files").json()["items"] == []
    run = run_ok(api, ingestion["id"])
    assert run["metrics"]["files_processed"] == 1
    assert api.table(ingestion["id"])["row_count"] == 10  # append mode: the rows are there twice


def test_run_control_is_refused_while_a_run_is_active(stack: Stack, api: Api) -> None:
    from autoloader_cli.servers import free_port

    closed = free_port()  # nothing listens: the run retries for a while
    ingestion = api.create(
        {
            "name": unique("busy"),
            "source": {
                "type": "ftp",
                "path": f"ftp://127.0.0.1:{closed}/in/",
                "file_pattern": "*.csv",
                "credentials": {"username": "user", "password": "s3cret-pass"},
            },
            "format": {"type": "csv"},
            "destination": {"catalog": "lake", "database": "e2e", "table": unique("busy")},
        }
    )
    run_id = api.run(ingestion["id"])

    refused = operate(api, "POST", f"/ingestions/{ingestion['id']}/refresh/full", {"confirm": True})
    in_progress = api.http.get(f"/ingestions/{ingestion['id']}").json()["metadata"]["current_run"]
    listed = api.http.get("/ingestions", params={"q": ingestion["name"]}).json()["items"][0]["metadata"]

    assert refused.status_code == 409, refused.text
    assert run_id in refused.text
    assert in_progress["run_id"] == run_id
    assert in_progress["status"] in {"queued", "running"}
    assert in_progress["trigger"] == "manual"
    assert listed["current_run"]["run_id"] == run_id
    api.wait_run(ingestion["id"], run_id, timeout=120)
    assert api.http.get(f"/ingestions/{ingestion['id']}").json()["metadata"]["current_run"] is None


# --- monitoring and alerts ---------------------------------------------------------------------


def test_metrics_dashboard_and_events_describe_the_runs(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 10)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("metrics")))
    run_ok(api, ingestion["id"])
    write_csv(folder / "b.csv", 10, 15)
    run_ok(api, ingestion["id"])

    metrics = api.http.get(f"/ingestions/{ingestion['id']}/metrics", params={"days": 7})

    assert metrics.status_code == 200, metrics.text
    figures = metrics.json()
    assert figures["runs"]["total"] == figures["runs"]["success"] == 2
    assert (figures["files_loaded"], figures["rows"]) == (2, 25)
    assert len(figures["daily"]) == 7
    assert figures["daily"][-1]["runs"] == 2
    assert figures["daily"][-1]["rows"] == 25
    assert api.http.get(f"/ingestions/{ingestion['id']}/metrics", params={"days": 91}).status_code in (400, 422)

    dashboard = api.http.get("/dashboard").json()
    assert dashboard["ingestions"]["total"] == 1
    assert dashboard["last_24h"]["runs"] == 2
    assert dashboard["last_24h"]["rows"] == 25
    assert dashboard["last_24h"]["success_rate"] == 1.0

    events = api.http.get(f"/ingestions/{ingestion['id']}/events", params={"limit": 500}).json()["items"]
    types = [e["type"] for e in events]
    assert types[-1] == "ingestion.created.v1"  # newest first
    assert types.count("run.completed.v1") == 2
    assert all(e["actor"] for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs, reverse=True)


def test_alerts_are_raised_and_cleared_and_shown_on_the_ingestion(stack: Stack, api: Api) -> None:
    folder = csv_folder(stack.landing_dir, {"small.csv": (0, 3)})
    ingestion = api.create(
        api.ingestion_body(folder, table=unique("alerts"), quality={"row_count_threshold": 10}, activate=True)
    )
    run_ok(api, ingestion["id"])

    active = api.http.get("/alerts", params={"status": "active", "ingestion_id": ingestion["id"]}).json()["items"]
    assert [a["kind"] for a in active] == ["row_count_below_threshold"]
    assert "3 rows" in active[0]["message"]
    described = api.http.get(f"/ingestions/{ingestion['id']}").json()["metadata"]
    assert described["health"] == "warning"
    assert [a["kind"] for a in described["active_alerts"]] == ["row_count_below_threshold"]

    write_csv(folder / "big.csv", 100, 50)
    run_ok(api, ingestion["id"])

    assert api.http.get("/alerts", params={"status": "active", "ingestion_id": ingestion["id"]}).json()["items"] == []
    cleared = api.http.get("/alerts", params={"status": "cleared", "ingestion_id": ingestion["id"]}).json()["items"]
    assert [a["kind"] for a in cleared] == ["row_count_below_threshold"]
    assert cleared[0]["cleared_at"]
    assert api.http.get(f"/ingestions/{ingestion['id']}").json()["metadata"]["health"] == "healthy"
    assert {"alert.raised.v1", "alert.cleared.v1"} <= set(event_types(api, ingestion["id"]))


def test_a_failed_run_raises_an_alert_until_a_run_succeeds(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("gone")
    ingestion = api.create(api.ingestion_body(folder, table=unique("failing"), activate=True))
    failed = api.wait_run(ingestion["id"], api.run(ingestion["id"]))
    if failed["status"] != "failed":
        pytest.fail(f"a run over a missing folder should fail: {failed}")

    active = api.http.get("/alerts", params={"status": "active"}).json()["items"]
    assert [(a["kind"], a["ingestion_id"]) for a in active] == [("run_failed", ingestion["id"])]
    assert api.http.get(f"/ingestions/{ingestion['id']}").json()["metadata"]["health"] == "error"
    assert api.http.get("/dashboard").json()["alerts"]["active"] == 1

    write_csv(folder / "a.csv", 0, 2)
    run_ok(api, ingestion["id"])

    assert api.http.get("/alerts", params={"status": "active"}).json()["items"] == []


def test_alerts_and_monitoring_are_tenant_scoped(stack: Stack, api: Api, tenants: Any) -> None:
    folder = csv_folder(stack.landing_dir, {"a.csv": (0, 1)})
    ingestion = api.create(api.ingestion_body(folder, table=unique("mine"), quality={"row_count_threshold": 5}))
    run_ok(api, ingestion["id"])
    other = tenants()

    for path in ("metrics", "events", "preview"):
        method = "POST" if path == "preview" else "GET"
        assert other.http.request(method, f"/ingestions/{ingestion['id']}/{path}").status_code == 404
    assert other.http.get("/alerts").json()["items"] == []
    assert other.http.get("/dashboard").json()["ingestions"]["total"] == 0
    refused = other.http.post(f"/ingestions/{ingestion['id']}/refresh/full", json={"confirm": True})
    assert refused.status_code == 404
