"""The read-side benchmark runs in CI at a small scale, so `just bench-reads` cannot rot between full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
