"""Embedded engine vs. the Spark Connect engine on the same CSV dataset, through the loader's engine port.

Starts PostgreSQL (the Iceberg SQL catalog) and a local Spark Connect server (``local[2]``, the
test fixture's :class:`tests.spark_env.SparkConnectServer`), then, in one process:

1. fixed cost: a 1-row batch on a fresh Spark server (JVM warm-up + first session), a 1-row batch
   on a new session of the warm server, then the median of several 1-row batches on a reused
   session, against the median of 1-row batches on the embedded engine;
2. throughput: the whole dataset (default 20 CSV x 25,000 rows) as one batch, alternating the
   engines over ``--rounds`` rounds (median kept): embedded, Spark with the loader's connectors
   reading (``read_files=connector``), Spark reading the files itself (``read_files=cluster``, the
   folder listed in the cluster's ``shared_paths``).

Every load goes to a fresh table and is checked for its row count. Prints a table and writes
bench/results/engines_spark_vs_embedded.json.

Usage: uv run python bench/engines_spark_vs_embedded.py [--files 20] [--rows 25000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the Spark server helper lives with the tests

from pyspark.sql.connect.session import SparkSession  # noqa: E402
from tests.spark_env import SparkConnectServer  # noqa: E402

from autoloader_cli.servers import PostgresServer  # noqa: E402
from autoloader_contracts.events import BatchPlanned  # noqa: E402
from autoloader_core.ids import new_id  # noqa: E402
from autoloader_core.settings import Settings  # noqa: E402
from autoloader_db.database import ensure_database, migrate  # noqa: E402
from autoloader_loader.embedded import EmbeddedEngine  # noqa: E402
from autoloader_loader.engine import BatchResult  # noqa: E402
from autoloader_loader.spark.engine import SparkConnectEngine  # noqa: E402
from autoloader_loader.spark.session import ClusterTarget, SessionPool, open_session  # noqa: E402
from bench_data import planned_batch  # noqa: E402 (same folder)
from full_stack_vs_bare import write_dataset  # noqa: E402 (same folder)

TENANT = "tnt_bench"
ENGINES = ("embedded", "connector", "cluster")
"""The embedded engine, Spark fed by the loader's connectors, Spark reading the files itself."""


def plan(folder: Path, paths: list[Path], table: str, *, read_files: str = "auto") -> BatchPlanned:
    """A batch of ``paths`` (CSV files of ``folder``) into ``bench.<table>``, no lineage columns."""
    return planned_batch(folder, paths, table, read_files=read_files, tenant=TENANT)


class Bench:
    """The engines under test and the targets they load through."""

    def __init__(self, settings: Settings, spark_url: str, landing: Path) -> None:
        self.embedded = EmbeddedEngine(settings)
        self.open_seconds: list[float] = []
        self.pool = SessionPool(opener=self._timed_open)
        self.spark = SparkConnectEngine(settings, self.pool)
        self.connector = ClusterTarget(cluster_id="clu_bench", url=spark_url)
        self.cluster = ClusterTarget(
            cluster_id="clu_bench_shared", url=spark_url, options={"shared_paths": [str(landing)]}
        )

    def _timed_open(self, target: ClusterTarget) -> SparkSession:
        started = time.perf_counter()
        session = open_session(target)  # sets the session conf: the first round trips happen here
        self.open_seconds.append(time.perf_counter() - started)
        return session

    def new_pool(self) -> None:
        """Drop the pooled sessions: the next Spark batch opens a new session."""
        self.pool.close()
        self.pool = SessionPool(opener=self._timed_open)
        self.spark.pool = self.pool

    async def load(self, engine: str, planned: BatchPlanned) -> tuple[BatchResult, float]:
        """Load through ``engine`` (``embedded`` | ``connector`` | ``cluster``); return the result and wall time."""
        started = time.perf_counter()
        if engine == "embedded":
            result = await self.embedded.load_batch(planned)
        else:
            target = self.cluster if engine == "cluster" else self.connector
            result = await self.spark.load_on(target, planned)
        return result, time.perf_counter() - started

    async def close(self) -> None:
        await self.spark.close()
        await self.embedded.close()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def fixed_cost(bench: Bench, folder: Path, tiny: Path, repeats: int) -> dict[str, Any]:
    """Seconds of 1-row batches: cold server, new session on a warm server, reused session, embedded."""
    table = "tiny_" + new_id("t")[-8:]

    async def load_tiny(engine: str, suffix: str) -> tuple[BatchResult, float]:
        return await bench.load(engine, plan(folder, [tiny], table + suffix))

    cold, cold_s = await load_tiny("connector", "_cold")
    assert cold.rows == 1, cold
    assert cold.read_by == "connector", cold
    cold_open = bench.open_seconds[-1]
    bench.new_pool()
    _, new_session_s = await load_tiny("connector", "_new")
    new_open = bench.open_seconds[-1]
    warm, embedded = [], []
    # The table exists after its first batch; later batches append (the steady state of a schedule).
    await load_tiny("connector", "_warm")
    await load_tiny("embedded", "_emb")
    for _ in range(repeats):
        warm.append((await load_tiny("connector", "_warm"))[1])
        embedded.append((await load_tiny("embedded", "_emb"))[1])
    return {
        "spark_first_batch_fresh_server_s": round(cold_s, 3),
        "spark_session_open_fresh_server_s": round(cold_open, 3),
        "spark_first_batch_new_session_s": round(new_session_s, 3),
        "spark_session_open_warm_server_s": round(new_open, 3),
        "spark_reused_session_batch_median_s": round(median(warm), 3),
        "embedded_batch_median_s": round(median(embedded), 3),
        "spark_fixed_overhead_median_s": round(median(warm) - median(embedded), 3),
        "repeats": repeats,
    }


async def throughput(bench: Bench, folder: Path, files: list[Path], rounds: int, expected: int) -> dict[str, Any]:
    """Wall seconds of the whole dataset per engine (median over rounds), with Spark's own seconds."""
    seconds: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    spark_seconds: dict[str, list[float]] = {"connector": [], "cluster": []}
    read_by: dict[str, set[str]] = {name: set() for name in seconds}
    for round_no in range(rounds):
        for engine in ENGINES:
            planned = plan(folder, files, f"{engine}_{round_no}", read_files=engine if engine != "embedded" else "auto")
            result, elapsed = await bench.load(engine, planned)
            assert result.rows == expected, (engine, result.rows)
            seconds[engine].append(elapsed)
            read_by[engine].add(result.read_by)
            if result.spark_seconds is not None:
                spark_seconds[engine].append(result.spark_seconds)
    out: dict[str, Any] = {}
    for engine, values in seconds.items():
        out[engine] = {
            "seconds_median": round(median(values), 3),
            "rows_per_s": round(expected / median(values)),
            "all_seconds": [round(v, 3) for v in values],
            "read_by": sorted(read_by[engine]),
        }
        if engine in spark_seconds:
            out[engine]["spark_seconds_median"] = round(median(spark_seconds[engine]), 3)
    return out


def print_table(fixed: dict[str, Any], loads: dict[str, Any], rows: int) -> None:
    base = loads["embedded"]["seconds_median"]
    print(f"\nthroughput, {rows:,} rows in one batch (median of rounds)")
    print(f"{'engine':<34}{'seconds':>9}{'rows/s':>11}{'vs embedded':>13}{'spark s':>9}  read_by")
    labels = {
        "embedded": "embedded (PyArrow+PyIceberg)",
        "connector": "spark, connector reads",
        "cluster": "spark, cluster reads",
    }
    for engine, label in labels.items():
        entry = loads[engine]
        ratio = base / entry["seconds_median"]
        spark = entry.get("spark_seconds_median", "")
        print(
            f"{label:<34}{entry['seconds_median']:>9.2f}{entry['rows_per_s']:>11,}{ratio:>12.2f}x{spark!s:>9}"
            f"  {','.join(entry['read_by'])}"
        )
    print("\nfixed cost of a 1-row batch (seconds)")
    for key, value in fixed.items():
        print(f"  {key:<40}{value}")


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    postgres = PostgresServer(root / "pg" / "data", fsync=False).start()
    spark_dir = root / "spark"
    spark_dir.mkdir()
    server = SparkConnectServer(spark_dir)
    try:
        started = time.perf_counter()
        server.start()
        server_start_s = time.perf_counter() - started
        await ensure_database(postgres.url, "bench")
        database_url = postgres.url_for("bench")
        await migrate(database_url)
        landing = root / "landing"
        folder = landing / "events"
        size = write_dataset(folder, args.files, args.rows)
        files = sorted(folder.glob("events-*.csv"))
        write_dataset(landing / "tiny", 1, 1)
        tiny = landing / "tiny" / "events-0000.csv"
        settings = Settings(database_url=database_url, local_roots=(landing,), warehouse=(root / "wh").as_uri())
        bench = Bench(settings, server.url, landing)
        try:
            fixed = await fixed_cost(bench, tiny.parent, tiny, args.repeats)
            loads = await throughput(bench, folder, files, args.rounds, args.files * args.rows)
        finally:
            await bench.close()
    finally:
        server.stop()
        postgres.stop()
    expected = args.files * args.rows
    print_table(fixed, loads, expected)
    return {
        "dataset": {"files": args.files, "rows": expected, "bytes": size},
        "rounds": args.rounds,
        "spark_server": "local[2], 1 GiB driver, same machine",
        "spark_server_start_s": round(server_start_s, 1),
        "throughput": loads,
        "ratio_spark_connector_over_embedded": round(
            loads["embedded"]["seconds_median"] / loads["connector"]["seconds_median"], 3
        ),
        "ratio_spark_cluster_over_embedded": round(
            loads["embedded"]["seconds_median"] / loads["cluster"]["seconds_median"], 3
        ),
        "fixed_cost": fixed,
    }


def main() -> None:
    """Run the benchmark and write its result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7, help="1-row batches per engine for the fixed cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-spark-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "engines_spark_vs_embedded.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
