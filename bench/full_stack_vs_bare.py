"""Full stack vs. bare PyArrow + PyIceberg on the same CSV dataset, side by side.

Loads N CSV files (default 40 x 25,000 rows) twice in one process:
  1. baseline: list the folder, read every file with PyArrow, one PyIceberg append (SQL catalog on
     the same PostgreSQL server, local warehouse) — the leanest pipeline that does the same job;
  2. full stack: HTTP API -> scheduler/discovery/loader/projector processes -> Iceberg table, timed
     from ``POST /run`` to the run's ``success`` as seen through the API.
Prints both throughputs and their ratio, and writes them to bench/results/.

Usage: uv run python bench/full_stack_vs_bare.py [--files 40] [--rows 25000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
from pyiceberg.catalog.sql import SqlCatalog

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


def bare_load(folder: Path, catalog_url: str, warehouse: Path, *, table_name: str) -> tuple[int, float]:
    """The baseline: PyArrow read + one PyIceberg append. Returns (rows, seconds)."""
    started = time.perf_counter()
    catalog = SqlCatalog("bench", uri=catalog_url, warehouse=warehouse.as_uri())
    tables = [pacsv.read_csv(path) for path in sorted(folder.glob("*.csv"))]
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


def stack_load(stack: Stack, folder: Path, *, lineage: bool, round_no: int) -> tuple[int, float]:
    """The product: create an ingestion, run it, wait for success. Returns (rows, seconds).

    With ``lineage`` off the table holds the same columns as the baseline's (a like-for-like ratio);
    with it on, four lineage columns per row are written too (the product's default).
    """
    http = httpx.Client(
        base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60
    )
    body = {
        "name": f"bench-lineage-{lineage}-{round_no}",
        "source": {"type": "local", "path": str(folder), "file_pattern": "*.csv"},
        "format": {"type": "csv"},
        "destination": {
            "catalog": "lake",
            "database": "bench",
            "table": f"events_lineage_{str(lineage).lower()}_{round_no}",
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


def main() -> None:
    """Run both pipelines and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        root = Path(tmp)
        with Stack(root / "stack", port=free_port(), environ={"AUTOLOADER_LOG_LEVEL": "WARNING"}) as stack:
            folder = stack.landing_dir / "bench"
            size = write_dataset(folder, args.files, args.rows)
            assert stack.postgres is not None
            asyncio.run(ensure_database(stack.postgres.url, "bench_baseline"))
            catalog_url = stack.postgres.url_for("bench_baseline").replace("postgresql://", "postgresql+psycopg2://")
            timings: dict[str, list[float]] = {"bare": [], "stack": [], "stack_lineage": []}
            # Alternate the pipelines over several rounds and keep the median: a single pass is
            # dominated by warm-up order (page cache, first catalog use, service start).
            for round_no in range(args.rounds):
                for name, load in (
                    ("bare", lambda r: bare_load(folder, catalog_url, root / "bare-warehouse", table_name=f"t{r}")),
                    ("stack", lambda r: stack_load(stack, folder, lineage=False, round_no=r)),
                    ("stack_lineage", lambda r: stack_load(stack, folder, lineage=True, round_no=r)),
                ):
                    rows, seconds = load(round_no)
                    assert rows == args.files * args.rows, (name, rows)
                    timings[name].append(seconds)
    expected = args.files * args.rows
    bare_s, full_s, lineage_s = (statistics.median(timings[k]) for k in ("bare", "stack", "stack_lineage"))
    result = {
        "dataset": {"files": args.files, "rows": expected, "bytes": size},
        "rounds": args.rounds,
        "bare_pyarrow_pyiceberg": {"seconds": round(bare_s, 3), "rows_per_s": round(expected / bare_s)},
        "full_stack": {"seconds": round(full_s, 3), "rows_per_s": round(expected / full_s)},
        "ratio_full_over_bare_throughput": round(bare_s / full_s, 3),
        "full_stack_with_lineage_columns": {"seconds": round(lineage_s, 3), "rows_per_s": round(expected / lineage_s)},
        "ratio_with_lineage_over_bare": round(bare_s / lineage_s, 3),
        "all_seconds": {k: [round(v, 3) for v in vs] for k, vs in timings.items()},
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "full_stack_vs_bare.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
