"""The dashboard query reader, the dashboards' shape, and the Prometheus scrape configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.dashboard_queries import DASHBOARDS, Selector, all_dashboard_queries, missing, parse, template_query

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BACKGROUND = ("scheduler", "discovery", "loader", "projector")


def test_parse_reads_metrics_matchers_and_grouping() -> None:
    query = parse(
        'histogram_quantile(0.95, sum by (le, route) (rate(autoloader_http_request_duration_seconds_bucket'
        '{status=~"5..", method!="GET"}[$__rate_interval])))'
    )
    assert query.selectors == [
        Selector(metric="autoloader_http_request_duration_seconds_bucket", matchers=frozenset({"status", "method"}))
    ]
    assert query.grouping == {"le", "route"}


def test_parse_reads_both_sides_of_a_ratio_and_ignores_functions_and_numbers() -> None:
    query = parse('sum(rate(a_total{x="1"}[1h])) / sum without (y) (rate(b_total[1h])) * 100')
    assert [s.metric for s in query.selectors] == ["a_total", "b_total"]
    assert query.grouping == set()  # "without" removes labels, it does not need them


def test_parse_keeps_label_values_inside_strings_out_of_names() -> None:
    query = parse('max(x{tenant=~"$tenant", ingestion="sum by (le)"})')
    assert query.selectors == [Selector(metric="x", matchers=frozenset({"tenant", "ingestion"}))]
    assert query.grouping == set()


def test_template_query_reads_label_values() -> None:
    query = template_query('label_values(autoloader_runs_total{tenant=~"$tenant"}, ingestion)')
    assert query.selectors == [Selector(metric="autoloader_runs_total", matchers=frozenset({"tenant"}))]
    assert query.grouping == {"ingestion"}


def test_missing_names_what_the_exported_series_lack() -> None:
    query = parse('sum by (status) (rate(runs_total{tenant="t"}[5m])) / sum(rate(other_total[5m]))')
    assert missing(query, {"runs_total": {"status", "tenant"}, "other_total": set()}) == []
    assert missing(query, {"runs_total": {"status"}}) == [
        "runs_total has no label 'tenant'",
        "other_total is not exported",
    ]
    assert missing(parse('up{job=~"autoloader-.*"}'), {}) == []


def test_every_dashboard_has_queries_and_the_ingestion_dashboard_an_ingestion_variable() -> None:
    assert {p.name for p in DASHBOARDS.glob("*.json")} == {"overview.json", "ingestion.json", "platform.json"}
    queries = all_dashboard_queries()
    assert all(query.selectors for _, query in queries)
    assert any(where == "ingestion.json: $ingestion" for where, _ in queries)
    names = {s.metric for _, q in queries for s in q.selectors}
    assert all(name.startswith("autoloader_") or name == "up" for name in names), names


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    port = compose["x-autoloader"]["environment"]["AUTOLOADER_METRICS_PORT"]
    targets = {
        job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"])
        for job in config["scrape_configs"]
    }
    assert targets["autoloader-api"] == ("/metrics", ["api:8000"])
    for service in BACKGROUND:
        assert targets[f"autoloader-{service}"] == ("/metrics", [f"{service}:{port}"])
        assert service in compose["services"]


def test_grafana_provisions_the_dashboards_folder_compose_mounts() -> None:
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/autoloader.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]
