"""Issue 11: the same dataset into a tenant's Iceberg REST catalog by each engine and commit strategy.

Starts PostgreSQL, the moto S3 server, the Iceberg REST catalog test server (warehouse on moto;
``tests/catalog_env.py``) and the Spark 4.0 Connect server with the Iceberg runtime and S3A
(``tests/spark_env.py``), then, in one process, loads through the loader's engine port:

- ``embedded → REST``: PyArrow reads, PyIceberg writes the Parquet files to S3 and commits through
  the REST catalog;
- ``Spark staged → REST``: Spark reads the files itself (shared folder), writes Parquet into the
  table's S3 location over ``s3a://``, the loader commits them through the REST catalog;
- ``Spark native → REST``: the loader's connectors read the files, the cluster's own Iceberg
  catalog (the same REST server) writes and commits.

For each: the wall time of the whole dataset as one batch (median of ``--rounds``; every round a
fresh table, its row count checked) and the fixed per-run cost, the median of 1-row batches onto
an existing table. Prints a table and writes bench/results/catalog_engines.json.

Usage: uv run python bench/catalog_engines.py [--files 40] [--rows 25000] [--rounds 3] [--repeats 5]
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

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test servers' helpers live with the tests

from tests.catalog_env import RestCatalogServer, spark_catalog_conf  # noqa: E402
from tests.integration.conftest import REST_CATALOG, rest_connection  # noqa: E402
from tests.source_envs.s3 import MotoS3Server  # noqa: E402
from tests.spark_env import REST_CATALOG_IN_SPARK, iceberg_server, s3a_conf  # noqa: E402

from autoloader_cli.servers import PostgresServer  # noqa: E402
from autoloader_contracts.events import BatchPlanned  # noqa: E402
from autoloader_core.settings import Settings  # noqa: E402
from autoloader_db.database import ensure_database, migrate  # noqa: E402
from autoloader_loader.catalogs import CatalogConnection  # noqa: E402
from autoloader_loader.embedded import EmbeddedEngine  # noqa: E402
from autoloader_loader.routing import EngineRouter  # noqa: E402
from autoloader_loader.spark.engine import SparkConnectEngine  # noqa: E402
from autoloader_loader.spark.session import ClusterTarget, SessionPool  # noqa: E402
from bench_data import planned_batch  # noqa: E402 (same folder)
from full_stack_vs_bare import write_dataset  # noqa: E402 (same folder)

TENANT = "tnt_bench"
ENGINES = ("embedded", "staged", "native")
LABELS = {"embedded": "embedded → REST", "staged": "Spark staged → REST", "native": "Spark native → REST"}


class Engines:
    """The three ways into the REST catalog, behind the loader's engine port."""

    def __init__(self, settings: Settings, registered: CatalogConnection, spark_url: str, landing: Path) -> None:
        def lookup(tenant_id: str, catalog: str) -> CatalogConnection | None:
            return registered if catalog == REST_CATALOG else None

        self.embedded = EmbeddedEngine(settings, catalogs=lookup)
        targets = {
            "clu_staged": ClusterTarget(
                cluster_id="clu_staged", url=spark_url, options={"shared_paths": [str(landing)]}
            ),
            "clu_native": ClusterTarget(
                cluster_id="clu_native", url=spark_url, catalog=REST_CATALOG_IN_SPARK, commit_strategy="native"
            ),
        }

        async def resolve(tenant_id: str, cluster_id: str | None) -> ClusterTarget | None:
            return targets.get(cluster_id or "")

        self.router = EngineRouter(SparkConnectEngine(settings, SessionPool(), catalogs=lookup), resolve)

    async def load(self, engine: str, planned: BatchPlanned) -> tuple[int, float, str]:
        """Load ``planned`` by ``engine``; return rows, wall seconds and who read the files."""
        started = time.perf_counter()
        if engine == "embedded":
            result = await self.embedded.load_batch(planned)
        else:
            result = await self.router.load_batch(planned)
        return result.rows, time.perf_counter() - started, result.read_by

    async def close(self) -> None:
        await self.router.close()
        await self.embedded.close()


def batch(folder: Path, paths: list[Path], engine: str, table: str) -> BatchPlanned:
    """A batch into ``rest_catalog.bench_<engine>.<table>`` on the engine's cluster."""
    read_files = "cluster" if engine == "staged" else "auto"
    planned = planned_batch(folder, paths, table, read_files=read_files, tenant=TENANT)
    destination = msgspec.structs.replace(planned.destination, catalog=REST_CATALOG, database=f"bench_{engine}")
    cluster = {"embedded": None, "staged": "clu_staged", "native": "clu_native"}[engine]
    return msgspec.structs.replace(planned, destination=destination, cluster_id=cluster)


async def measure(
    engines: Engines, folder: Path, files: list[Path], tiny: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Per engine: the fixed cost (1-row batches onto an existing table), then the dataset's rounds."""
    expected = args.files * args.rows
    out: dict[str, Any] = {}
    for engine in ENGINES:
        fixed_table = f"tiny_{engine}"
        await engines.load(engine, batch(tiny.parent, [tiny], engine, fixed_table))  # creates it, warms the session
        fixed = []
        for _ in range(args.repeats):
            fixed.append((await engines.load(engine, batch(tiny.parent, [tiny], engine, fixed_table)))[1])
        walls, read_by = [], set()
        for round_no in range(args.rounds):
            rows, seconds, by = await engines.load(engine, batch(folder, files, engine, f"orders_{round_no}"))
            assert rows == expected, (engine, rows)
            walls.append(seconds)
            read_by.add(by)
        out[engine] = {
            "seconds_median": round(statistics.median(walls), 3),
            "all_seconds": [round(v, 3) for v in walls],
            "rows_per_s": round(expected / statistics.median(walls)),
            "fixed_seconds_per_run": round(statistics.median(fixed), 3),
            "read_by": sorted(read_by),
        }
    return out


def print_table(result: dict[str, Any], rows: int) -> None:
    base = result["embedded"]["seconds_median"]
    print(f"\n{rows:,} rows in one batch into the REST catalog (median of rounds); fixed = 1-row batch")
    print(f"{'engine':<24}{'seconds':>9}{'rows/s':>11}{'vs embedded':>13}{'fixed s':>9}  read_by")
    for engine in ENGINES:
        entry = result[engine]
        print(
            f"{LABELS[engine]:<24}{entry['seconds_median']:>9.2f}{entry['rows_per_s']:>11,}"
            f"{base / entry['seconds_median']:>12.2f}x{entry['fixed_seconds_per_run']:>9.2f}"
            f"  {','.join(entry['read_by'])}"
        )


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    postgres = PostgresServer(root / "pg" / "data", fsync=False).start()
    s3 = MotoS3Server().start()
    (root / "rest").mkdir()
    (root / "spark").mkdir()
    rest = RestCatalogServer(root / "rest", s3).start()
    spark = iceberg_server(root / "spark", spark_catalog_conf(rest, REST_CATALOG_IN_SPARK), s3a_conf(s3)).start()
    try:
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
        engines = Engines(settings, rest_connection(rest), spark.url, landing)
        try:
            result = await measure(engines, folder, files, tiny, args)
        finally:
            await engines.close()
    finally:
        spark.stop()
        rest.stop()
        s3.stop()
        postgres.stop()
    print_table(result, args.files * args.rows)
    return {
        "dataset": {"files": args.files, "rows": args.files * args.rows, "bytes": size, "format": "csv"},
        "rounds": args.rounds,
        "repeats": args.repeats,
        "servers": "Spark 4.0.1 local[2] (Iceberg 1.10, S3A), Iceberg REST test server, moto S3; one 2-core machine",
        "engines": result,
    }


def main() -> None:
    """Run the benchmark and write its result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="1-row batches per engine for the fixed cost")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "catalog_engines.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-catalogs-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
