"""Alerts end to end: each kind raised once and cleared, through the HTTP API only.

``row_count_below_threshold`` and ``run_failed`` are covered in test_preview_and_run_control.py;
this module covers ``schema_change_pending``, ``no_new_files`` and ``backlog_growing``.

The module runs its own stack whose discovery service (the one that raises and clears alerts)
runs on a clock 600 times faster than real time (``AUTOLOADER_CLOCK_SCALE``): an hour of
``quality.no_files_alert_hours`` passes in six real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api, start_stack, write_csv

pytestmark = pytest.mark.e2e

CLOCK_SCALE = 600
"""Discovery's clock speed: one simulated hour is 6 real seconds."""

T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A stack whose discovery service runs :data:`CLOCK_SCALE` times faster than real time."""
    running = start_stack(
        tmp_path_factory.mktemp("alerts"),
        postgres_admin_url,
        service_env={"discovery": {"AUTOLOADER_CLOCK_SCALE": str(CLOCK_SCALE)}},
    )
    try:
        yield running
    finally:
        running.stop()


# --- helpers ---------------------------------------------------------------------------------


def eventually(
    probe: Callable[[], T | None], what: str, timeout: float = 60.0, last: Callable[[], Any] | None = None
) -> T:
    """Poll ``probe`` until it returns something other than None (bounded); return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not seen within {timeout}s; last seen: {last() if last else None}")


def run_to_end(api: Api, ingestion_id: str, expected: str = "success") -> dict[str, Any]:
    run = api.wait_run(ingestion_id, api.run(ingestion_id))
    assert run["status"] == expected, run
    return run


def alerts(api: Api, ingestion_id: str, status: str) -> list[dict[str, Any]]:
    response = api.http.get("/alerts", params={"status": status, "ingestion_id": ingestion_id})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def alert_of(api: Api, ingestion_id: str, kind: str, status: str) -> dict[str, Any] | None:
    return next((a for a in alerts(api, ingestion_id, status) if a["kind"] == kind), None)


def wait_alert(api: Api, ingestion_id: str, kind: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
    """The ingestion's alert of ``kind`` once ``GET /alerts`` shows it with ``status``."""
    return eventually(
        lambda: alert_of(api, ingestion_id, kind, status),
        f"{status} {kind} alert",
        timeout,
        last=lambda: api.http.get("/alerts", params={"ingestion_id": ingestion_id}).json(),
    )


def metadata(api: Api, ingestion_id: str) -> dict[str, Any]:
    response = api.http.get(f"/ingestions/{ingestion_id}")
    assert response.status_code == 200, response.text
    described: dict[str, Any] = response.json()["metadata"]
    return described


def wait_health(api: Api, ingestion_id: str, health: str, kinds: list[str]) -> dict[str, Any]:
    """The ingestion's metadata once it shows ``health`` and exactly the active alerts ``kinds``."""

    def probe() -> dict[str, Any] | None:
        described = metadata(api, ingestion_id)
        shown = sorted(a["kind"] for a in described["active_alerts"])
        return described if described["health"] == health and shown == sorted(kinds) else None

    return eventually(probe, f"health {health} with active alerts {kinds}", last=lambda: metadata(api, ingestion_id))


def alert_events(api: Api, ingestion_id: str, kind: str) -> list[dict[str, Any]]:
    """The ingestion's ``alert.*`` events of ``kind``, oldest first."""
    response = api.http.get(f"/ingestions/{ingestion_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    items = [e for e in response.json()["items"] if e["type"].startswith("alert.") and e["data"]["kind"] == kind]
    return list(reversed(items))


def wait_alert_events(api: Api, ingestion_id: str, kind: str, types: list[str]) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        found = alert_events(api, ingestion_id, kind)
        return found if [e["type"] for e in found] == types else None

    return eventually(probe, f"{kind} events {types}", last=lambda: alert_events(api, ingestion_id, kind))


def at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


def assert_one_episode(api: Api, ingestion_id: str, active: dict[str, Any], cleared: dict[str, Any]) -> None:
    """The alert seen active is the one cleared, and its events are one raise and one clear."""
    assert cleared["id"] == active["id"]
    assert (cleared["kind"], cleared["message"], cleared["raised_at"]) == (
        active["kind"],
        active["message"],
        active["raised_at"],
    )
    assert at(cleared["cleared_at"]) >= at(cleared["raised_at"])
    raised, ended = wait_alert_events(api, ingestion_id, active["kind"], ["alert.raised.v1", "alert.cleared.v1"])
    assert raised["aggregate"] == ended["aggregate"] == "alert"
    assert raised["aggregate_id"] == ended["aggregate_id"] == active["id"]
    assert raised["actor"] == ended["actor"] == "service:discovery"
    assert raised["data"]["message"] == active["message"]
    assert raised["data"]["details"] == active["details"]
    assert at(raised["occurred_at"]) == at(active["raised_at"])
    assert at(ended["occurred_at"]) == at(cleared["cleared_at"])
    assert ended["data"]["reason"] == cleared["clear_reason"]
    assert active["kind"] not in {a["kind"] for a in alerts(api, ingestion_id, "active")}


# --- schema_change_pending -------------------------------------------------------------------


def test_a_pending_schema_change_raises_an_alert_until_it_is_resolved(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("schema")
    write_csv(folder / "a.csv", 0, 5)
    body = api.ingestion_body(folder, table=unique("schema"), activate=True)
    body["format"] = {"type": "csv", "schema": {"evolution_mode": "fail"}}
    ingestion = api.create(body)
    iid = ingestion["id"]
    run_to_end(api, iid)
    wait_health(api, iid, "healthy", [])
    (folder / "b.csv").write_text("id,name,amount,country\n100,x,1.50,DE\n101,y,2.50,FR\n")

    failed = run_to_end(api, iid, "failed")

    active = wait_alert(api, iid, "schema_change_pending", "active")
    assert active["message"] == "schema version 1 waits for a resolution (+country)"
    assert active["details"] == {"version": "1"}
    assert active["status"] == "active"
    assert active["cleared_at"] is None
    assert active["ingestion_name"] == body["name"]
    [pending] = api.http.get(f"/ingestions/{iid}/schema-versions").json()["items"]
    assert (pending["status"], pending["run_id"]) == ("pending", failed["id"])
    assert at(active["raised_at"]) == at(pending["detected_at"])  # raised by the detection itself
    # the failed run raises run_failed too; the ingestion waits in status error, which wins over warning
    described = wait_health(api, iid, "error", ["run_failed", "schema_change_pending"])
    assert {a["id"] for a in described["active_alerts"]} >= {active["id"]}
    assert wait_alert_events(api, iid, "schema_change_pending", ["alert.raised.v1"])

    resolved = api.http.post(f"/ingestions/{iid}/schema-versions/1/resolve", json={"action": "auto_merge"})

    assert resolved.status_code == 200, resolved.text
    cleared = wait_alert(api, iid, "schema_change_pending", "cleared")
    assert cleared["clear_reason"] == "schema version 1 was resolved: auto_merge"
    assert at(cleared["cleared_at"]) == at(resolved.json()["resolved_at"])
    assert_one_episode(api, iid, active, cleared)
    # resolved: the ingestion is active again, but its last run failed until the next one succeeds
    wait_health(api, iid, "error", ["run_failed"])

    loaded = run_to_end(api, iid)

    assert loaded["metrics"]["files_processed"] == 1
    rows = {int(r["id"]): r["country"] for r in api.sample(iid, limit=100, columns="id,country")}
    assert rows[100] == "DE"
    assert rows[101] == "FR"
    assert rows[0] is None
    wait_health(api, iid, "healthy", [])
    assert [e["type"] for e in alert_events(api, iid, "schema_change_pending")] == [
        "alert.raised.v1",
        "alert.cleared.v1",
    ]


# --- no_new_files ----------------------------------------------------------------------------


def test_no_new_files_for_the_configured_hours_raises_an_alert_until_files_arrive(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("quiet")
    write_csv(folder / "a.csv", 0, 5)
    # a draft first: its run starts the "last files" clock, activation then lets the watcher look
    ingestion = api.create(api.ingestion_body(folder, table=unique("quiet"), quality={"no_files_alert_hours": 1}))
    iid = ingestion["id"]
    first = run_to_end(api, iid)
    assert first["metrics"]["files_processed"] == 1
    activated = api.http.post(f"/ingestions/{iid}/activate")
    assert activated.status_code == 200, activated.text
    assert wait_health(api, iid, "healthy", [])["active_alerts"] == []
    assert alerts(api, iid, "active") == []

    # one simulated hour later (6 real seconds) the watcher, checking every 5 s, raises the alert
    active = wait_alert(api, iid, "no_new_files", "active", timeout=90)

    assert active["message"].startswith("no new files for 1 hours (since ")
    assert active["details"]["hours"] == "1"
    last_files_at = at(active["details"]["last_files_at"])
    assert at(active["raised_at"]) - last_files_at >= timedelta(hours=1)  # the injected clock's hour
    assert active["cleared_at"] is None
    wait_health(api, iid, "warning", ["no_new_files"])
    wait_alert_events(api, iid, "no_new_files", ["alert.raised.v1"])
    run_to_end(api, iid)  # a run without files leaves it raised (and does not raise it again)
    assert alert_of(api, iid, "no_new_files", "active") == active

    write_csv(folder / "b.csv", 100, 5)
    arrived = run_to_end(api, iid)

    assert arrived["metrics"]["files_processed"] == 1
    cleared = wait_alert(api, iid, "no_new_files", "cleared")
    assert cleared["clear_reason"] == f"run {arrived['id']} loaded new files"
    assert_one_episode(api, iid, active, cleared)
    wait_health(api, iid, "healthy", [])


# --- backlog_growing -------------------------------------------------------------------------


def add_files(folder: Path, names: list[str]) -> None:
    for name in names:
        write_csv(folder / f"{name}.csv", int(name.split("-")[1]) * 10, 2)


def test_a_backlog_growing_three_runs_in_a_row_raises_an_alert_until_a_run_catches_up(stack: Stack, api: Api) -> None:
    folder = stack.landing_dir / unique("backlog")
    add_files(folder, ["f-00", "f-01", "f-02"])
    body = api.ingestion_body(folder, table=unique("backlog"), discovery={"max_files_per_run": 1}, activate=True)
    ingestion = api.create(body)
    iid = ingestion["id"]

    backlogs = []
    for more in ([], ["f-03", "f-04"], ["f-05", "f-06"]):
        add_files(folder, more)
        if backlogs:  # before the third run: two runs' backlog grew, no alert yet
            wait_health(api, iid, "healthy", [])
            assert alert_of(api, iid, "backlog_growing", "active") is None
        run = run_to_end(api, iid)
        assert run["metrics"]["files_processed"] == 1
        backlogs.append(run["metrics"]["backlog_files"])
    assert backlogs == [2, 3, 4]

    active = wait_alert(api, iid, "backlog_growing", "active")
    assert active["message"] == "the backlog grew over the last 3 runs (2 -> 3 -> 4 files)"
    assert active["details"] == {"backlog_files": "2,3,4"}
    assert active["cleared_at"] is None
    described = wait_health(api, iid, "warning", ["backlog_growing"])
    assert described["backlog_files"] == 4
    wait_alert_events(api, iid, "backlog_growing", ["alert.raised.v1"])

    raised = api.http.put(f"/ingestions/{iid}", json={"discovery": {"max_files_per_run": 100}})
    assert raised.status_code == 200, raised.text
    caught_up = run_to_end(api, iid)

    assert (caught_up["metrics"]["files_processed"], caught_up["metrics"]["backlog_files"]) == (4, 0)
    cleared = wait_alert(api, iid, "backlog_growing", "cleared")
    assert cleared["clear_reason"] == "the backlog is not growing"
    assert_one_episode(api, iid, active, cleared)
    assert wait_health(api, iid, "healthy", [])["backlog_files"] == 0
    assert api.table(iid)["row_count"] == 14
