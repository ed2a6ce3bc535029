"""The whole benchmark suite of issue 13, one bench after another, and one table of the results.

Each bench is its own script (it starts the servers it needs and writes ``bench/results/<name>.json``);
this runs them in sequence as subprocesses, so one cannot disturb another's memory or servers, reads
their results and writes ``bench/results/summary.md`` (the table) and ``summary.json``: per row our
figure, the baseline measured beside it in the same script, the ratio and the issue's target.

Usage: uv run python bench/suite.py [--quick] [--only csv,noop,...] [--rounds 3] [--results DIR]

``--quick`` runs every bench at a small scale (a minute or two in all): the numbers then say nothing
about the targets, it only proves the suite works. ``--only`` keeps the named steps (see ``STEPS``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure beside its baseline and the target."""

    measure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None
    """None when the row has no target (context only)."""


@dataclass(frozen=True)
class Step:
    """One bench script: how to run it at full and quick scale, and what its result means."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    result: str
    rows: Callable[[dict[str, Any]], list[Row]]
    rounds_flag: bool = True


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _first_run_rows(label: str) -> Callable[[dict[str, Any]], list[Row]]:
    def rows(result: dict[str, Any]) -> list[Row]:
        bare = result["bare_pyarrow_pyiceberg"]["seconds"]
        ours = result["full_stack_with_lineage_columns"]["seconds"]
        ratio = bare / ours
        dataset = result["dataset"]
        measure = f"{label}: first run, {dataset['files']} files / {dataset['rows']:,} rows, lineage on"
        return [Row(measure, _s(ours), _s(bare), f"{ratio:.2f}x", ">= 0.8x", ratio >= 0.8)]

    return rows


def _small_files_rows(result: dict[str, Any]) -> list[Row]:
    (first,) = _first_run_rows("small JSON")(result)
    files_per_s = result["full_stack_with_lineage_columns"]["files_per_s"]
    bare_files_per_s = result["bare_pyarrow_pyiceberg"]["files_per_s"]
    throughput = Row(
        f"small JSON: files/s end to end ({result['dataset']['files']} files)",
        f"{files_per_s:,} files/s",
        f"{bare_files_per_s:,} files/s",
        f"{files_per_s / bare_files_per_s:.2f}x",
        ">= 1,200 files/s",
        files_per_s >= 1200,
    )
    return [first, throughput]


def _incremental_rows(result: dict[str, Any]) -> list[Row]:
    above = result["stack_minus_bare_seconds"]
    return [
        Row(
            f"incremental: +{result['new_files_per_run']} files onto {result['history_runs']} snapshots",
            _s(result["full_stack_run_seconds"]),
            _s(result["bare_pyiceberg_append_seconds"]),
            f"+{above:.2f} s",
            "<= 1 s above raw",
            above <= result["target_seconds_above_bare"],
        )
    ]


def _noop_rows(result: dict[str, Any]) -> list[Row]:
    ours = result["noop_run_seconds"]
    return [
        Row(
            f"no-op run: {result['files']:,} files in the ledger",
            _s(ours),
            f"{_s(result['raw_scandir_stat_seconds'])} (scandir + stat)",
            f"{result['ratio_noop_over_scandir_stat']:.1f}x slower",
            "<= 1 s, no Spark",
            ours <= result["target_seconds"],
        )
    ]


def _memory_rows(result: dict[str, Any]) -> list[Row]:
    engine, baseline = result["engine"], result["baseline_pyarrow_stream_pyiceberg"]
    gigabytes = result["file"]["bytes"] / 1e9
    return [
        Row(
            f"memory: one {gigabytes:.1f} GB CSV, loader peak RSS",
            f"{engine['peak_rss_mb']:.0f} MB",
            f"{baseline['peak_rss_mb']:.0f} MB (streaming PyArrow + PyIceberg)",
            f"{result['ratio_engine_over_baseline_peak_rss']:.2f}x",
            f"< {result['target_peak_rss_mb']} MB",
            engine["peak_rss_mb"] < result["target_peak_rss_mb"],
        )
    ]


def _scheduler_rows(result: dict[str, Any]) -> list[Row]:
    by = {v["variant"]: v for v in result["variants"]}
    heap, scan = by["heap"], by.get("scan")
    return [
        Row(
            f"scheduler: {result['schedules']:,} per-minute schedules, tick lag p99",
            _s(heap["lag_p99_s"]),
            f"{_s(scan['lag_p99_s'])} (old scan)" if scan else "-",
            f"{scan['lag_p99_s'] / heap['lag_p99_s']:.1f}x better" if scan else "-",
            "< 1 s",
            heap["lag_p99_s"] < 1.0,
        ),
        Row(
            "scheduler: CPU per simulated minute",
            _s(heap["cpu_s_per_minute"]),
            f"{_s(scan['cpu_s_per_minute'])} (old scan)" if scan else "-",
            f"{scan['cpu_s_per_minute'] / heap['cpu_s_per_minute']:.1f}x less" if scan else "-",
            "bounded",
            None,
        ),
    ]


def _loaders_rows(result: dict[str, Any]) -> list[Row]:
    by = result["by_loaders"]
    most = max(by, key=int)
    one, many = by["1"]["median_seconds"], by[most]["median_seconds"]
    return [
        Row(
            f"{most} loaders vs 1 on one run of {result['batches_per_run']} batches",
            _s(many),
            f"{_s(one)} (1 loader)",
            f"{one / many:.2f}x",
            "a speed-up (> 1x)",
            one / many > 1.0,
        )
    ]


def _api_rows(result: dict[str, Any]) -> list[Row]:
    target = result.get("target_p99_ms", 100)
    rows = []
    for endpoint in result["endpoints"]:
        rows.append(
            Row(
                f"API p99 {endpoint['name']} ({result['scale']['ingestions']:,} ingestions, "
                f"{result['scale']['runs']:,} runs)",
                f"{endpoint['p99_ms']:.1f} ms",
                "-",
                "-",
                f"< {target} ms",
                endpoint["p99_ms"] < target,
            )
        )
    return rows


STEPS: tuple[Step, ...] = (
    Step("csv", "full_stack_vs_bare.py", ("--format", "csv"), ("--format", "csv", "--files", "4", "--rows", "2000"),
         "full_stack_vs_bare_csv.json", _first_run_rows("CSV")),
    Step("jsonl", "full_stack_vs_bare.py", ("--format", "jsonl"),
         ("--format", "jsonl", "--files", "4", "--rows", "2000"), "full_stack_vs_bare_jsonl.json",
         _first_run_rows("JSON lines")),
    Step("parquet", "full_stack_vs_bare.py", ("--format", "parquet"),
         ("--format", "parquet", "--files", "4", "--rows", "2000"), "full_stack_vs_bare_parquet.json",
         _first_run_rows("Parquet")),
    Step("small_json", "full_stack_vs_bare.py", ("--format", "small_json"),
         ("--format", "small_json", "--files", "200"), "full_stack_vs_bare_small_json.json", _small_files_rows),
    Step("incremental", "incremental_run.py", (), ("--history", "5", "--new", "2", "--rows", "100"),
         "incremental_run.json", _incremental_rows),
    Step("noop", "noop_run.py", (), ("--files", "2000"), "noop_run.json", _noop_rows),
    Step("memory", "loader_memory.py", (), ("--gb", "0.05"), "loader_memory.json", _memory_rows, rounds_flag=False),
    Step("scheduler", "scheduler_ticks.py", ("--variants", "heap,scan", "--old-minutes", "1"),
         ("--schedules", "500", "--minutes", "2", "--variants", "heap,scan", "--old-minutes", "1"),
         "scheduler_ticks.json", _scheduler_rows, rounds_flag=False),
    Step("loaders", "multi_loader.py", (), ("--files", "8", "--rows", "2000"), "multi_loader.json", _loaders_rows),
    Step("api", "api_load.py", (), ("--scale", "0.01", "--requests", "50"), "api_load.json", _api_rows,
         rounds_flag=False),
)


def run_step(step: Step, results: Path, *, quick: bool, rounds: int | None) -> tuple[float, int]:
    """Run one bench script to completion, its result into ``results``; its seconds and exit code."""
    out = results / step.result
    args = [sys.executable, str(HERE / step.script), *(step.quick if quick else step.full), "--out", str(out)]
    if rounds is not None and step.rounds_flag:
        args += ["--rounds", str(rounds)]
    print(f"\n=== {step.name}: {' '.join(args[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.run(args, cwd=HERE.parent, check=False).returncode
    return time.monotonic() - started, code


def table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table."""
    lines = ["| measure | ours | baseline | ratio | target | met |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.measure} | {row.ours} | {row.baseline} | {row.ratio} | {row.target} | {met} |")
    return "\n".join(lines)


def rows_of(steps: Sequence[Step], results: Path, failed: dict[str, str]) -> list[Row]:
    """The table's rows from each step's result file (a failed step gets one row saying so)."""
    rows: list[Row] = []
    for step in steps:
        if step.name in failed:
            rows.append(Row(step.name, "failed", "-", "-", failed[step.name], False))
            continue
        rows += step.rows(json.loads((results / step.result).read_text()))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; exit 1 when a bench failed (an unmet target is reported, not an error)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small scale: proves the suite runs, not the targets")
    parser.add_argument("--only", help="comma-separated step names: " + ",".join(s.name for s in STEPS))
    parser.add_argument("--rounds", type=int, help="rounds for the benches that take --rounds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where every result and the summary go")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else {s.name for s in STEPS}
    unknown = wanted - {s.name for s in STEPS}
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {[s.name for s in STEPS]}")
    steps = [s for s in STEPS if s.name in wanted]
    failed: dict[str, str] = {}
    durations: dict[str, float] = {}
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    for step in steps:
        (results / step.result).unlink(missing_ok=True)  # never report an older run's numbers
        seconds, code = run_step(step, results, quick=args.quick, rounds=args.rounds)
        durations[step.name] = round(seconds, 1)
        if code != 0 or not (results / step.result).exists():
            failed[step.name] = f"exit code {code}"
    rows = rows_of(steps, results, failed)
    title = "quick scale: not a measurement of the targets" if args.quick else "full scale"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    markdown = f"# Benchmark suite ({title}), {stamp}\n\n{table(rows)}\n"
    (results / "summary.md").write_text(markdown)
    summary = {"quick": args.quick, "at": stamp, "seconds_per_step": durations, "rows": [asdict(r) for r in rows]}
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n" + markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
