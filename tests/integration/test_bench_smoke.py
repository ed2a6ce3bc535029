"""The read-side benchmark runs in CI at a small scale, so `just bench-reads` cannot rot between full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_read_benchmark_times_every_case_for_both_tenants() -> None:
    finished = subprocess.run(
        [sys.executable, "bench/api_reads_at_scale.py", "--scale", "0.01", "--repeats", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads((ROOT / "bench" / "results" / "api_reads_at_scale.json").read_text())
    cases = report["results"]
    assert len(cases) >= 25
    for case in cases:
        assert case["small_ms"] > 0, case["case"]
        assert case["big_ms"] > 0, case["case"]
        assert case["statements"], f"{case['case']} issued no SQL to explain"
    assert {"GET /dashboard", "GET /ingestions/{id}/metrics"} <= {case["endpoint"] for case in cases}


def test_the_api_load_benchmark_drives_every_case_over_http_at_a_tiny_size(tmp_path: Path) -> None:
    # No timings are asserted: only that the API starts, answers every case with 200s, and the report has them.
    tiny = ["--scale", "0.01", "--requests", "8", "--clients", "2"]
    report: Any = _bench("api_load.py", *tiny, out=tmp_path / "api_load.json", timeout=240)

    assert report["target_p99_ms"] == 100
    assert report["scale"] == {"ingestions": 60, "runs": 10_000}
    names = [endpoint["name"] for endpoint in report["endpoints"]]
    assert len(names) == 6
    assert {name.split(" (")[0] for name in names} == {"GET /ingestions", "GET /ingestions/{id}/runs", "GET /dashboard"}
    for endpoint in report["endpoints"]:
        assert endpoint["requests"] == 8, endpoint
        assert 0 < endpoint["p50_ms"] <= endpoint["p95_ms"] <= endpoint["p99_ms"] <= endpoint["max_ms"], endpoint
    assert "0012_read_run_numbers.sql" in report["migrations"]


def _bench(script: str, *args: str, out: Path, timeout: float = 300) -> dict[str, object]:
    finished = subprocess.run(
        [sys.executable, f"bench/{script}", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report: dict[str, object] = json.loads(out.read_text())
    return report


def test_the_issue_13_run_benchmarks_run_at_a_tiny_size(tmp_path: Path) -> None:
    # No timings are asserted: only that each script still runs end to end and reports both sides.
    noop = _bench("noop_run.py", "--files", "300", "--rounds", "1", "--profile", out=tmp_path / "noop.json")
    assert noop["noop_run_status"] == ["success"]
    assert noop["raw_scandir_stat_seconds"]
    assert noop["loader_batches_planned"] == 0
    assert set(noop["profile"]["stages_seconds"]) == {"walk", "walk_and_anti_join_serial", "select"}

    tiny = ["--history", "3", "--new", "2", "--rows", "50", "--rounds", "1"]
    incremental = _bench("incremental_run.py", *tiny, out=tmp_path / "incremental.json")
    assert incremental["bare_pyiceberg_append_seconds"]
    assert incremental["full_stack_run_seconds"]

    memory = _bench("loader_memory.py", "--gb", "0.005", "--tmp", str(tmp_path), out=tmp_path / "memory.json")
    assert memory["engine"]["peak_rss_mb"]  # type: ignore[index]
    assert memory["baseline_pyarrow_stream_pyiceberg"]["peak_rss_mb"]  # type: ignore[index]


def test_the_catalog_engines_benchmark_runs_every_engine_into_the_rest_catalog(tmp_path: Path) -> None:
    # Issue 11's bench at a tiny size: its own servers (REST catalog, Spark with Iceberg + S3A, moto).
    args = ["--files", "2", "--rows", "100", "--rounds", "1", "--repeats", "1"]
    report = _bench("catalog_engines.py", *args, out=tmp_path / "catalogs.json", timeout=600)

    engines = report["engines"]
    assert isinstance(engines, dict)
    assert sorted(engines) == ["embedded", "native", "staged"]
    assert {name: entry["read_by"] for name, entry in engines.items()} == {
        "embedded": ["embedded"],
        "staged": ["cluster"],
        "native": ["connector"],
    }
    assert all(entry["fixed_seconds_per_run"] > 0 for entry in engines.values())
