"""An incremental run onto a table with a long history (issue 13: +10 files onto 100 snapshots, <= 1 s above raw).

Builds the history the way the product sees it: ``--history`` real runs through the full stack, each
adding one realistic CSV file (:mod:`bench_data`, ``--rows`` rows) to the landing folder, so the table
holds one snapshot per run. The baseline table gets the same history by one PyIceberg append per file
(SQL catalog on the same PostgreSQL). Then, over ``--rounds``, 10 new files are written and loaded:
  1. baseline: read the 10 files with PyArrow, cast timestamps to µs UTC, load the table, one append;
  2. stack: ``POST /run`` to ``success`` through the HTTP API (list, diff with the ledger, plan, load,
     exactly-once check against the table's snapshots, commit, project).
Reports both medians and the difference (the target is the stack at most 1 s above the raw append).

Usage: uv run python bench/incremental_run.py [--history 100] [--new 10] [--rows 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from pyiceberg.catalog.sql import SqlCatalog

sys.path.insert(0, str(Path(__file__).parent))

import bench_data
from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from autoloader_db.database import ensure_database
from noop_run import Api


def write_file(folder: Path, n: int, rows: int) -> Path:
    """Write the ``n``-th file (rows ``n*rows ..``) of the dataset."""
    path = folder / f"events-{n:05d}.csv"
    pacsv.write_csv(bench_data.wide_rows(n * rows, rows), path, pacsv.WriteOptions(quoting_style="needed"))
    return path


def read_files(paths: list[Path]) -> pa.Table:
    """The baseline's read: PyArrow's CSV reader, timestamps as µs UTC."""
    data = pa.concat_tables([pacsv.read_csv(p) for p in paths]).combine_chunks()
    schema = pa.schema(
        [f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in data.schema]
    )
    return data.cast(schema)


def bare_append(catalog: SqlCatalog, paths: list[Path]) -> float:
    """Seconds of the raw append of ``paths`` onto ``bench.incremental`` (read, load the table, append)."""
    started = time.perf_counter()
    data = read_files(paths)
    catalog.load_table("bench.incremental").append(data)
    return time.perf_counter() - started


def build_history(api: Api, ingestion: str, catalog: SqlCatalog, folder: Path, *, runs: int, rows: int) -> list[float]:
    """``runs`` runs of one new file each through the stack, and one append per file onto the baseline table."""
    seconds_per_run: list[float] = []
    for n in range(runs):
        path = write_file(folder, n, rows)
        run, seconds = api.run(ingestion)
        if run["status"] != "success":
            raise SystemExit(f"history run {n} ended {run['status']}: {run.get('errors')}")
        seconds_per_run.append(seconds)
        data = read_files([path])
        if n == 0:
            catalog.create_namespace_if_not_exists("bench")
            catalog.create_table("bench.incremental", schema=data.schema)
        catalog.load_table("bench.incremental").append(data)
    return seconds_per_run


def main() -> None:
    """Build the histories, time the incremental runs, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=100, help="prior runs (snapshots) before the timed ones")
    parser.add_argument("--new", type=int, default=10, help="new files per timed run")
    parser.add_argument("--rows", type=int, default=1000, help="rows per file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack's services (repeatable)")
    parser.add_argument("--out", default="incremental_run.json", help="under bench/results/ (or absolute)")
    args = parser.parse_args()
    environ = {"AUTOLOADER_LOG_LEVEL": "WARNING"} | dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        root = Path(tmp)
        with Stack(root / "stack", port=free_port(), environ=environ) as stack:
            folder = stack.landing_dir / "incremental"
            folder.mkdir(parents=True)
            assert stack.postgres is not None
            asyncio.run(ensure_database(stack.postgres.url, "bench_baseline"))
            catalog_url = stack.postgres.url_for("bench_baseline").replace("postgresql://", "postgresql+psycopg2://")
            catalog = SqlCatalog("bench", uri=catalog_url, warehouse=(root / "bare-warehouse").as_uri())
            api = Api(stack)
            ingestion = api.create(
                {
                    "name": "bench-incremental",
                    "source": {"type": "local", "path": str(folder), "file_pattern": "*.csv"},
                    "format": {"type": "csv"},
                    "destination": {"catalog": "lake", "database": "bench", "table": "incremental"},
                }
            )
            started = time.perf_counter()
            history_runs = build_history(api, ingestion, catalog, folder, runs=args.history, rows=args.rows)
            history_s = time.perf_counter() - started
            snapshots_before = len(api.table(ingestion).get("snapshots") or [])
            bare: list[float] = []
            full: list[float] = []
            written = args.history
            for _ in range(args.rounds):
                paths = [write_file(folder, written + i, args.rows) for i in range(args.new)]
                written += args.new
                bare.append(bare_append(catalog, paths))
                run, seconds = api.run(ingestion)
                if run["status"] != "success" or run["metrics"]["files_processed"] != args.new:
                    raise SystemExit(f"incremental run: {run}")
                full.append(seconds)
            table = api.table(ingestion)
            assert table["row_count"] == written * args.rows, table
            bare_rows = catalog.load_table("bench.incremental").current_snapshot().summary["total-records"]  # type: ignore[union-attr]
            assert int(bare_rows) == written * args.rows
    bare_s, full_s = statistics.median(bare), statistics.median(full)
    result = {
        "history_runs": args.history,
        "new_files_per_run": args.new,
        "rows_per_file": args.rows,
        "rounds": args.rounds,
        "environment": environ,
        "table_snapshots_reported_before_timed_runs": snapshots_before,
        "setup": {
            "history_seconds": round(history_s, 1),
            "history_run_median_seconds": round(statistics.median(history_runs), 3),
            "history_run_last_10_median_seconds": round(statistics.median(history_runs[-10:]), 3),
        },
        "bare_pyiceberg_append_seconds": round(bare_s, 3),
        "full_stack_run_seconds": round(full_s, 3),
        "stack_minus_bare_seconds": round(full_s - bare_s, 3),
        "all_seconds": {"bare": [round(s, 3) for s in bare], "stack": [round(s, 3) for s in full]},
        "target_seconds_above_bare": 1.0,
    }
    bench_data.publish(result, args.out)


if __name__ == "__main__":
    main()
