"""Peak memory of the loader on one large CSV file, next to a raw streaming pipeline (issue 13: < 600 MB at 2 GB).

Writes one CSV of the realistic 11-column rows (:mod:`bench_data`) of about ``--gb`` GB, chunk by chunk
(never whole in memory), under ``--tmp``, starts PostgreSQL (the Iceberg SQL catalog), then loads the
file in a fresh child process each, and reports the child's peak RSS (``ru_maxrss``):
  1. engine: ``EmbeddedEngine.load_batch`` on a one-file batch (lineage columns on, the product's default);
  2. baseline: ``pyarrow.csv.open_csv`` streaming reader, timestamps cast to µs UTC, buffered to
     250,000 rows, appended to one PyIceberg transaction per buffer and committed once (what the engine does,
     without the product around it).
The file and both warehouses are deleted at the end.

Usage: uv run python bench/loader_memory.py [--gb 2] [--tmp /tmp] [--out loader_memory.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa
import pyarrow.csv as pacsv

import bench_data
from autoloader_cli.servers import PostgresServer
from autoloader_db.database import ensure_database, migrate

CHUNK_ROWS = 200_000
BASELINE_GROUP_ROWS = 250_000


def write_big_csv(path: Path, target_bytes: int) -> tuple[int, int]:
    """Write realistic rows to ``path`` until it holds ``target_bytes``; return (rows, bytes)."""
    rows = 0
    with path.open("wb") as sink:
        writer: pacsv.CSVWriter | None = None
        while sink.tell() < target_bytes:
            data = bench_data.wide_rows(rows, CHUNK_ROWS)
            if writer is None:
                writer = pacsv.CSVWriter(sink, data.schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
            writer.write_table(data)
            rows += CHUNK_ROWS
            sink.flush()
        if writer is not None:
            writer.close()
    return rows, path.stat().st_size


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_engine(file: Path, database_url: str, warehouse: Path) -> dict[str, Any]:
    """Load ``file`` through the embedded engine (in this fresh process)."""
    from autoloader_core.settings import Settings
    from autoloader_loader.embedded import EmbeddedEngine

    settings = Settings(database_url=database_url, local_roots=(file.parent,), warehouse=warehouse.as_uri())
    planned = bench_data.planned_batch(file.parent, [file], "big_csv_engine", fmt="csv", lineage=True)
    before = peak_rss_mb()
    started = time.perf_counter()

    async def load() -> int:
        engine = EmbeddedEngine(settings)
        try:
            return (await engine.load_batch(planned)).rows
        finally:
            await engine.close()

    rows = asyncio.run(load())
    return {"rows": rows, "seconds": time.perf_counter() - started, "rss_before_mb": before}


def child_baseline(file: Path, catalog_url: str, warehouse: Path) -> dict[str, Any]:
    """Stream ``file`` with PyArrow's CSV reader into one PyIceberg transaction (in this fresh process)."""
    from pyiceberg.catalog.sql import SqlCatalog

    before = peak_rss_mb()
    started = time.perf_counter()
    catalog = SqlCatalog("bench", uri=catalog_url, warehouse=warehouse.as_uri())
    reader = pacsv.open_csv(file)
    schema = pa.schema(
        [f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in reader.schema]
    )
    catalog.create_namespace_if_not_exists("bench")
    table = catalog.create_table("bench.big_csv_baseline", schema=schema)
    rows = 0
    with table.transaction() as tx:
        buffered: list[pa.RecordBatch] = []
        count = 0
        for batch in reader:
            buffered.append(batch)
            count += batch.num_rows
            if count >= BASELINE_GROUP_ROWS:
                tx.append(pa.Table.from_batches(buffered).cast(schema).combine_chunks())
                rows, buffered, count = rows + count, [], 0
        if buffered:
            tx.append(pa.Table.from_batches(buffered).cast(schema).combine_chunks())
            rows += count
    return {"rows": rows, "seconds": time.perf_counter() - started, "rss_before_mb": before}


def in_child(kind: str, file: Path, url: str, warehouse: Path) -> dict[str, Any]:
    """Run one pipeline in a fresh interpreter; return its report with its peak RSS."""
    finished = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--file", str(file), "--url", url, "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{finished.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return report


async def prepare(postgres: PostgresServer) -> tuple[str, str]:
    """The product's database (migrated) and the baseline's catalog database."""
    await ensure_database(postgres.url, "bench")
    await migrate(postgres.url_for("bench"))
    await ensure_database(postgres.url, "bench_baseline")
    return postgres.url_for("bench"), postgres.url_for("bench_baseline").replace(
        "postgresql://", "postgresql+psycopg2://"
    )


def main() -> None:
    """Parent: write the file, run both children, report. Child: one pipeline."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="size of the CSV file in GB (10^9 bytes)")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", default="loader_memory.json", help="under bench/results/ (or absolute)")
    parser.add_argument("--child", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_engine if args.child == "engine" else child_baseline
        report = run(args.file, args.url, args.warehouse)
        print(json.dumps(report | {"peak_rss_mb": peak_rss_mb()}))
        return
    root = Path(tempfile.mkdtemp(prefix="autoloader-bench-memory-", dir=args.tmp))
    try:
        landing = root / "landing"
        landing.mkdir()
        file = landing / "big.csv"
        started = time.perf_counter()
        rows, size = write_big_csv(file, int(args.gb * 1e9))
        write_s = time.perf_counter() - started
        postgres = PostgresServer(root / "pg" / "data", fsync=False).start()
        try:
            database_url, baseline_url = asyncio.run(prepare(postgres))
            baseline = in_child("baseline", file, baseline_url, root / "baseline-wh")
            engine = in_child("engine", file, database_url, root / "engine-wh")
        finally:
            postgres.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert engine["rows"] == rows == baseline["rows"], (engine, baseline, rows)

    def rounded(report: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in report.items()}

    result = {
        "file": {"format": "csv", "rows": rows, "bytes": size, "write_seconds": round(write_s, 1)},
        "engine": rounded(engine),
        "baseline_pyarrow_stream_pyiceberg": rounded(baseline),
        "ratio_engine_over_baseline_peak_rss": round(engine["peak_rss_mb"] / baseline["peak_rss_mb"], 2),
        "target_peak_rss_mb": 600,
    }
    bench_data.publish(result, args.out)


if __name__ == "__main__":
    main()
