"""A client written against the original design's shapes (SPEC.md §3) works unchanged.

The body below is SPEC §3's ingestion body field for field (with a local JSON source and the original
``frequency: "custom"`` + ``cron_expression`` schedule); every answer is checked for the original field names.
"""

from __future__ import annotations

import json
from typing import Any

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api

RUN_METRICS = {
    "files_discovered",
    "files_processed",
    "files_failed",
    "files_skipped",
    "records_ingested",
    "records_rejected",
    "bytes_read",
    "duration_seconds",
    "error_count",
}


def original_body(stack: Stack, table: str) -> dict[str, Any]:
    """SPEC §3's ingestion body on a local folder of three JSON-lines files (10 findings each)."""
    folder = stack.landing_dir / unique("snyk")
    folder.mkdir(parents=True)
    for part in range(3):
        lines = [json.dumps({"id": part * 10 + i, "severity": "high", "score": i / 2}) for i in range(10)]
        (folder / f"reports-{part}.json").write_text("\n".join(lines) + "\n")
    return {
        "name": table,
        "source": {"type": "local", "path": str(folder), "file_pattern": "**/*.json", "options": {}},
        "format": {
            "type": "json",
            "options": {"multiline": False, "compression": "auto"},
            "schema": {"inference": "auto", "evolution_mode": "add_new_columns", "schema_json": None, "hints": {}},
        },
        "destination": {
            "catalog": "lake",
            "database": "security",
            "table": table,
            "write_mode": "append",
            "merge_keys": [],
            "partitioning": {"enabled": False, "columns": []},
        },
        "schedule": {"frequency": "custom", "time": None, "timezone": "Europe/Berlin", "cron_expression": "0 2 * * *"},
        "discovery": {
            "max_files_per_run": 1000,
            "max_bytes_per_run": None,
            "min_file_age_seconds": 0,
            "include_existing_files": True,
            "changed_files": "ignore",
        },
        "errors": {"on_error": "skip_file"},
        "quality": {"row_count_threshold": None, "no_files_alert_hours": None, "alert_recipients": []},
    }


def test_the_original_ingestion_body_is_accepted_and_answered_in_its_own_terms(stack: Stack, api: Api) -> None:
    body = original_body(stack, unique("snyk_findings"))

    created = api.create(body)

    assert created["schedule"]["frequency"] == "cron"  # "custom" is the original spelling of cron
    assert created["schedule"]["cron_expression"] == "0 2 * * *"
    assert created["format"]["options"] == {"multiline": False, "compression": "auto"}
    assert created["destination"]["partitioning"] == {"enabled": False, "columns": []}
    original_metadata = {"next_run_time", "last_run_id", "last_run_time", "schema_version", "estimated_monthly_cost"}
    assert original_metadata <= set(created["metadata"])


def test_preview_cost_and_run_answers_carry_the_original_field_names(stack: Stack, api: Api) -> None:
    body = original_body(stack, unique("snyk_findings"))

    preview = api.http.post("/ingestions/test", json=body)
    cost = api.http.post("/ingestions/estimate-cost", json=body)
    created = api.create({**body, "activate": True})
    run = api.wait_run(created["id"], api.run(created["id"]))

    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert shown["file_count"] == 3
    assert shown["estimated_records"] == 30
    assert {column["name"] for column in shown["schema"]} >= {"id", "severity", "score"}
    assert len(shown["sample_data"]) == 20
    assert cost.status_code == 200, cost.text
    assert {"compute_per_run", "compute_monthly", "storage_monthly", "discovery_monthly", "total_monthly"} <= set(
        cost.json()
    )
    run_fields = {"id", "ingestion_id", "status", "trigger", "started_at", "ended_at", "metrics", "errors"}
    assert run_fields | {"schema_version", "snapshot_ids", "cost"} <= set(run)
    assert run["status"] == "success"
    assert set(run["metrics"]) >= RUN_METRICS
    assert run["metrics"]["records_ingested"] == 30
    assert {"estimated", "actual"} <= set(run["cost"])
