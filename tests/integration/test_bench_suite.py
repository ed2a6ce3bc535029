"""`just bench` (bench/suite.py) runs in CI at a quick scale, so the suite and its table cannot rot.

The steps run here are the ones no other smoke test covers (full stack vs bare, the scheduler's tick
lag, several loaders); `test_bench_smoke.py` runs the others. Numbers at this scale mean nothing, so
only the shape of the table is checked: one row per measure, each with our figure and a baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_its_benches_and_writes_one_table_of_ours_baseline_ratio_and_target(tmp_path: Path) -> None:
    finished = subprocess.run(
        [
            sys.executable, "bench/suite.py", "--quick", "--only", "csv,scheduler,loaders",
            "--rounds", "1", "--results", str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    measures = [row["measure"] for row in summary["rows"]]
    assert len(measures) == 4, measures
    assert measures[0].startswith("CSV: first run, 4 files / 8,000 rows")
    assert any("tick lag p99" in m for m in measures)
    assert measures[-1].startswith("3 loaders vs 1")
    for row in summary["rows"]:
        assert row["ours"] not in ("", "failed"), row
        assert row["baseline"], row
    scheduler_row = next(r for r in summary["rows"] if "tick lag p99" in r["measure"])
    assert scheduler_row["target"] == "< 1 s"
    assert set(summary["seconds_per_step"]) == {"csv", "scheduler", "loaders"}
    table = (tmp_path / "summary.md").read_text()
    assert sum(line.startswith("|") for line in table.splitlines()) == 1 + 1 + 4  # header, rule, four rows
    assert "quick scale" in table
    for name in ("full_stack_vs_bare_csv.json", "scheduler_ticks.json", "multi_loader.json"):
        assert (tmp_path / name).exists(), name
