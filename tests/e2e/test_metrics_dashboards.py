"""The proof that metrics and dashboards fit: every query of every Grafana panel finds its series.

The real stack (five service processes on real NATS and PostgreSQL) runs a successful, a partial
and a failed run, plus scheduled ticks; then every service's Prometheus endpoint is scraped, and
each metric a dashboard panel names must be exported with every label the panel filters or
groups on.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoloader_cli.stack import SERVICES, Stack
from tests.conftest import unique
from tests.dashboard_queries import all_dashboard_queries, missing
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

GOOD_CSV = b"id,name,amount\n1,a,1.5\n2,b,2.5\n"
RAGGED_CSV = b"id,name,amount\n10,a,1.0\n11,b,2.0,extra\n"
SCRAPE_DEADLINE_SECONDS = 60.0


def _folder(stack: Stack, files: dict[str, bytes]) -> Path:
    folder = stack.landing_dir / unique("metrics")
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _run_to_end(api: Api, folder: Path, *, on_error: str) -> str:
    body = api.ingestion_body(folder, table=unique("metrics"), errors={"on_error": on_error})
    ingestion_id: str = api.create(body)["id"]
    status: str = api.wait_run(ingestion_id, api.run(ingestion_id))["status"]
    return status


def _scheduled_ticks(stack: Stack, api: Api) -> str:
    """An every-minute cron on the 60x scheduler: ticks every real second (paused by the caller)."""
    body = api.ingestion_body(
        _folder(stack, {}),
        table=unique("ticks"),
        activate=True,
        schedule={"frequency": "cron", "cron_expression": "* * * * *", "timezone": "UTC"},
    )
    ingestion_id: str = api.create(body)["id"]
    return ingestion_id


def scrape(stack: Stack) -> dict[str, set[str]]:
    """Scrape every service; map each exported sample name to the label names it carries."""
    exported: dict[str, set[str]] = {}
    for name, url in stack.metrics_urls.items():
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, f"{name}: {response.status_code}"
        assert response.headers["content-type"].startswith("text/plain"), name
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


def _problems(stack: Stack) -> tuple[list[str], dict[str, set[str]]]:
    exported = scrape(stack)
    problems = [
        f"{where}: {problem}" for where, query in all_dashboard_queries() for problem in missing(query, exported)
    ]
    return problems, exported


def test_every_service_serves_metrics(stack: Stack) -> None:
    assert set(stack.metrics_urls) == set(SERVICES)
    for name, url in stack.metrics_urls.items():
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, name
        assert "process_resident_memory_bytes" in response.text, name


def test_every_dashboard_query_finds_its_metrics_and_labels(stack: Stack, api: Api) -> None:
    ticking = _scheduled_ticks(stack, api)
    try:
        assert _run_to_end(api, _folder(stack, {"a.csv": GOOD_CSV}), on_error="skip_file") == "success"
        assert _run_to_end(api, _folder(stack, {"a.csv": GOOD_CSV, "b.csv": RAGGED_CSV}), on_error="skip_file") == (
            "partial"
        )
        assert _run_to_end(api, _folder(stack, {"a.csv": GOOD_CSV, "b.csv": RAGGED_CSV}), on_error="fail_run") == (
            "failed"
        )
        # The projector counts from the log and the scheduler ticks on its own: poll until all is there.
        deadline = time.monotonic() + SCRAPE_DEADLINE_SECONDS
        problems, exported = _problems(stack)
        while problems and time.monotonic() < deadline:
            time.sleep(1.0)
            problems, exported = _problems(stack)
    finally:
        api.http.post(f"/ingestions/{ticking}/pause")
    assert not problems, "\n".join(problems)
    # The labels a run is counted under are the bounded ones only (see docs/operations.md).
    assert exported["autoloader_runs_total"] == {"tenant", "ingestion", "status"}
    assert exported["autoloader_http_request_duration_seconds_bucket"] == {"route", "method", "status", "le"}


def test_api_latency_is_labelled_by_route_template_not_raw_path(stack: Stack, api: Api) -> None:
    missing_id = unique("ing")
    assert api.http.get(f"/ingestions/{missing_id}").status_code == 404
    text = httpx.get(stack.metrics_urls["api"], timeout=10).text
    assert missing_id not in text
    assert 'method="GET",route="/api/v1/ingestions/{ingestion_id}",status="404"' in text
