"""Full stack vs. bare PyArrow + PyIceberg on the same dataset, side by side.

Writes one dataset (default: the realistic 11-column CSV of :mod:`bench_data`, 40 x 25,000 rows) and
loads it in one process, alternating over ``--rounds``:
  1. baseline: list the folder, read every file with PyArrow's reader for the format, one PyIceberg
     append (SQL catalog on the same PostgreSQL server, local warehouse) — the leanest pipeline
     that does the same job;
  2. full stack: HTTP API -> scheduler/discovery/loader/projector processes -> Iceberg table, timed
     from ``POST /run`` to the run's ``success`` as seen through the API, without and with lineage
     columns.
Prints throughputs (rows/s, files/s) and ratios, and writes bench/results/full_stack_vs_bare_<format>.json.

Usage: uv run python bench/full_stack_vs_bare.py [--format csv|jsonl|parquet|small_json|narrow]
           [--files N] [--rows N] [--rounds 3] [--env AUTOLOADER_X=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog

import bench_data  # same folder (run as a script)
from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from autoloader_db.database import ensure_database


def write_dataset(folder: Path, files: int, rows: int) -> int:
    """Write ``files`` CSV files of ``rows`` rows; return the total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(files):
        with (folder / f"events-{n:04d}.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "user", "amount", "event_time"])
            for i in range(n * rows, (n + 1) * rows):
                writer.writerow(
                    [
                        i,
                        f"user-{i % 5000}",
                        f"{(i % 1000) * 0.37:.2f}",
                        (start + timedelta(seconds=i)).isoformat(),
                    ]
                )
    return sum(p.stat().st_size for p in folder.iterdir())


BARE_READERS: dict[str, Callable[[Path], pa.Table]] = {
    "csv": pacsv.read_csv,
    "jsonl": pajson.read_json,
    "small_json": pajson.read_json,
    "parquet": pq.read_table,
}
"""PyArrow's own reader of each dataset format (multi-threaded, types inferred)."""


def bare_load(
    folder: Path, catalog_url: str, warehouse: Path, *, table_name: str, fmt: str = "csv"
) -> tuple[int, float]:
    """The baseline: list, PyArrow read, one PyIceberg append. Returns (rows, seconds)."""
    started = time.perf_counter()
    catalog = SqlCatalog("bench", uri=catalog_url, warehouse=warehouse.as_uri())
    read = BARE_READERS[fmt]
    tables = [read(path) for path in sorted(folder.iterdir())]
    data = pa.concat_tables(tables).combine_chunks()
    schema = pa.schema(
        [f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in data.schema]
    )
    data = data.cast(schema)
    catalog.create_namespace_if_not_exists("bench")
    table = catalog.create_table_if_not_exists(f"bench.{table_name}", schema=data.schema)
    table.append(data)
    rows = int(table.current_snapshot().summary["total-records"])  # type: ignore[union-attr]
    return rows, time.perf_counter() - started


def stack_load(stack: Stack, folder: Path, *, lineage: bool, round_no: int, fmt: str = "csv") -> tuple[int, float]:
    """The product: create an ingestion, run it, wait for success. Returns (rows, seconds).

    With ``lineage`` off the table holds the same columns as the baseline's (a like-for-like ratio);
    with it on, four lineage columns per row are written too (the product's default).
    """
    http = httpx.Client(
        base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60
    )
    body = {
        "name": f"bench-{fmt}-lineage-{lineage}-{round_no}",
        "source": {"type": "local", "path": str(folder), "file_pattern": f"*.{bench_data.file_suffix(fmt)}"},
        "format": bench_data.format_spec(fmt),
        # Every file in the first run, like the baseline (the default caps a run at 1,000 files).
        "discovery": {"max_files_per_run": None},
        "destination": {
            "catalog": "lake",
            "database": "bench",
            "table": f"events_{fmt}_lineage_{str(lineage).lower()}_{round_no}",
            "lineage_columns": lineage,
        },
    }
    created = http.post("/ingestions", json=body)
    created.raise_for_status()
    ingestion = created.json()["id"]
    started = time.perf_counter()
    run_id = http.post(f"/ingestions/{ingestion}/run").json()["run_id"]
    while True:
        run = http.get(f"/ingestions/{ingestion}/runs/{run_id}").json()
        if run["status"] not in {"queued", "running"}:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if run["status"] != "success":
        raise SystemExit(f"run ended {run['status']}: {run.get('errors')}")
    rows = http.get(f"/ingestions/{ingestion}/table").json()["row_count"]
    return int(rows), elapsed


DEFAULT_SIZES = {"narrow": (40, 25_000), "csv": (40, 25_000), "jsonl": (40, 25_000), "parquet": (20, 50_000)}
DEFAULT_SIZES["small_json"] = (5_000, 20)
"""(files, rows per file) of each dataset: the shapes of issue 13 (1M rows; 5,000 files of 20 rows)."""


def write_files(folder: Path, fmt: str, files: int, rows: int) -> int:
    """Write the ``fmt`` dataset (``narrow`` is the old 4-column CSV); return its bytes."""
    if fmt == "narrow":
        return write_dataset(folder, files, rows)
    return bench_data.write_dataset(folder, fmt, files=files, rows=rows)


def main() -> None:
    """Run both pipelines and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=("narrow", *bench_data.FORMATS), default="csv")
    parser.add_argument("--files", type=int, help="default: by format (see DEFAULT_SIZES)")
    parser.add_argument("--rows", type=int, help="rows per file; default: by format")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack's services (repeatable)")
    parser.add_argument("--out", help="under bench/results/ (or absolute); default full_stack_vs_bare_<format>.json")
    args = parser.parse_args()
    environ = {"AUTOLOADER_LOG_LEVEL": "WARNING"} | dict(item.split("=", 1) for item in args.env)
    fmt = args.format
    files, rows_per_file = args.files or DEFAULT_SIZES[fmt][0], args.rows or DEFAULT_SIZES[fmt][1]
    reader_fmt = "csv" if fmt == "narrow" else fmt
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        root = Path(tmp)
        with Stack(root / "stack", port=free_port(), environ=environ) as stack:
            folder = stack.landing_dir / "bench"
            size = write_files(folder, fmt, files, rows_per_file)
            assert stack.postgres is not None
            asyncio.run(ensure_database(stack.postgres.url, "bench_baseline"))
            catalog_url = stack.postgres.url_for("bench_baseline").replace("postgresql://", "postgresql+psycopg2://")
            timings: dict[str, list[float]] = {"bare": [], "stack": [], "stack_lineage": []}
            warehouse = root / "bare-warehouse"
            # Alternate the pipelines over several rounds and keep the median: a single pass is
            # dominated by warm-up order (page cache, first catalog use, service start).
            for round_no in range(args.rounds):
                for name, load in (
                    ("bare", lambda r: bare_load(folder, catalog_url, warehouse, table_name=f"t{r}", fmt=reader_fmt)),
                    ("stack", lambda r: stack_load(stack, folder, lineage=False, round_no=r, fmt=reader_fmt)),
                    ("stack_lineage", lambda r: stack_load(stack, folder, lineage=True, round_no=r, fmt=reader_fmt)),
                ):
                    rows, seconds = load(round_no)
                    assert rows == files * rows_per_file, (name, rows)
                    timings[name].append(seconds)
    expected = files * rows_per_file
    bare_s, full_s, lineage_s = (statistics.median(timings[k]) for k in ("bare", "stack", "stack_lineage"))

    def throughput(seconds: float) -> dict[str, float]:
        return {
            "seconds": round(seconds, 3),
            "rows_per_s": round(expected / seconds),
            "files_per_s": round(files / seconds),
        }

    result = {
        "dataset": {"format": fmt, "files": files, "rows": expected, "bytes": size},
        "rounds": args.rounds,
        "environment": environ,
        "bare_pyarrow_pyiceberg": throughput(bare_s),
        "full_stack": throughput(full_s),
        "ratio_full_over_bare_throughput": round(bare_s / full_s, 3),
        "full_stack_with_lineage_columns": throughput(lineage_s),
        "ratio_with_lineage_over_bare": round(bare_s / lineage_s, 3),
        "all_seconds": {k: [round(v, 3) for v in vs] for k, vs in timings.items()},
    }
    bench_data.publish(result, args.out or f"full_stack_vs_bare_{fmt}.json")


if __name__ == "__main__":
    main()
