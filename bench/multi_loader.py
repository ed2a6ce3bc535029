"""One loader vs. several on a multi-batch run: the same dataset, a stack per loader count, side by side.

Writes the realistic 11-column CSV (:mod:`bench_data`), then for each ``--loaders`` count starts a
stack with that many loader processes and ``AUTOLOADER_BATCH_MAX_FILES=--files-per-batch`` (so the
run is ``files / files_per_batch`` batches on one durable consumer) and times one manual run
through the API (``POST /run`` to ``success``), ``--rounds`` times on fresh tables. Reports the
median seconds per loader count, the speed-up over one loader, and how many batches each loader
process loaded (from its own metrics endpoint). Writes bench/results/multi_loader.json.

All loaders of a run commit into the same table, so commits serialise (a loader that loses the
race writes its batch again); the speed-up comes from reading and writing data files in parallel.

Usage: uv run python bench/multi_loader.py [--loaders 1 3] [--files 40] [--rows 25000]
           [--files-per-batch 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

import bench_data  # same folder (run as a script)
from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from full_stack_vs_bare import stack_load


def batches_per_loader(stack: Stack) -> dict[str, float]:
    """Batches each loader process loaded, from its metrics endpoint."""
    counts: dict[str, float] = {}
    for process, url in stack.metrics_urls.items():
        if not process.startswith("loader"):
            continue
        text = httpx.get(url, timeout=10).text
        counts[process] = sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "autoloader_batch_duration_seconds_count" and s.labels.get("outcome") == "loaded"
        )
    return counts


def measure(root: Path, loaders: int, args: argparse.Namespace) -> dict[str, object]:
    """Start a stack with ``loaders`` loader processes and time ``args.rounds`` runs of the dataset."""
    environ = {"AUTOLOADER_LOG_LEVEL": "WARNING", "AUTOLOADER_BATCH_MAX_FILES": str(args.files_per_batch)}
    with Stack(root / f"stack-{loaders}", port=free_port(), environ=environ, loader_replicas=loaders) as stack:
        folder = stack.landing_dir / "bench"
        bench_data.write_dataset(folder, "csv", files=args.files, rows=args.rows)
        seconds = []
        for round_no in range(args.rounds):
            rows, elapsed = stack_load(stack, folder, lineage=True, round_no=round_no, fmt="csv")
            assert rows == args.files * args.rows, rows
            seconds.append(elapsed)
        return {"seconds": seconds, "median": statistics.median(seconds), "batches": batches_per_loader(stack)}


def main() -> None:
    """Run each loader count and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loaders", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--files-per-batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="multi_loader.json", help="under bench/results/ (or absolute)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        results = {n: measure(Path(tmp), n, args) for n in args.loaders}
    base = results[args.loaders[0]]["median"]
    assert isinstance(base, float)
    report = {
        "dataset": {"format": "csv", "files": args.files, "rows": args.files * args.rows},
        "batches_per_run": -(-args.files // args.files_per_batch),
        "rounds": args.rounds,
        "by_loaders": {
            str(n): {
                "median_seconds": round(float(r["median"]), 3),  # type: ignore[arg-type]
                "all_seconds": [round(s, 3) for s in r["seconds"]],  # type: ignore[attr-defined]
                "speedup_over_first": round(base / float(r["median"]), 3),  # type: ignore[arg-type]
                "batches_loaded_per_process": r["batches"],
            }
            for n, r in results.items()
        },
    }
    bench_data.publish(report, args.out)


if __name__ == "__main__":
    main()
