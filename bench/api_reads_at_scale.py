"""The API's read side at scale: a small tenant vs. a big one (1,000 ingestions, 1,000,000 runs).

Starts PostgreSQL the way the tests do (``autoloader_cli.servers.PostgresServer``, fsync off),
applies the project's migrations (``autoloader_db.database.migrate``), fills two tenants of the
same database with set-based ``generate_series`` inserts (bench/read_models_seed.py), then times
the API's real read code (``ReadModels``, ``Monitoring``, ``IngestionPresenter``) for both tenants:
median of ``--repeats`` calls after one warm-up call, and the ratio big / small.

For every timed call on the big tenant it records the statements the code sent (a recording
pool) and runs ``EXPLAIN (ANALYZE, BUFFERS)`` on each with the same arguments, reporting the
sequential scans of large tables (over 50,000 rows) and the buffers touched.

Prints a table and writes bench/results/api_reads_at_scale.json.

Usage: uv run python bench/api_reads_at_scale.py [--scale 1.0] [--ingestions 1000] [--runs 1000000]
       [--files 300000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from autoloader_api.cluster_commands import ClusterCommands
from autoloader_api.costing import CostEstimator
from autoloader_api.credentials import SourceCredentials
from autoloader_api.monitoring import Monitoring
from autoloader_api.presenter import IngestionPresenter
from autoloader_api.queries import IngestionFilter, ReadModels
from autoloader_api.tenants import Caller
from autoloader_bus.event_store import EventStore
from autoloader_cli.servers import PostgresServer
from autoloader_core.clock import FakeClock
from autoloader_db.database import Pool, create_pool, ensure_database, migrate
from read_models_seed import TenantSpec, seed_tenant  # same folder

RESULTS = Path(__file__).parent / "results" / "api_reads_at_scale.json"
LARGE_TABLE_ROWS = 50_000
SLOW_MS = 50.0


# --- statements the read code sends -----------------------------------------------------------------


class RecordingPool:
    """A pool that delegates to the real one and, while recording, keeps each statement and its arguments."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.statements: list[tuple[str, tuple[Any, ...]]] | None = None

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
        """Record the statements sent inside the block."""
        self.statements = []
        try:
            yield self.statements
        finally:
            self.statements = None

    def _note(self, sql: str, args: tuple[Any, ...]) -> None:
        if self.statements is not None:
            self.statements.append((sql, args))

    async def fetch(self, sql: str, *args: Any) -> Any:
        """``Pool.fetch``."""
        self._note(sql, args)
        return await self._pool.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """``Pool.fetchrow``."""
        self._note(sql, args)
        return await self._pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """``Pool.fetchval``."""
        self._note(sql, args)
        return await self._pool.fetchval(sql, *args)


# --- what is timed ----------------------------------------------------------------------------------


@dataclass
class Target:
    """One tenant's read objects and the ids and cursors the cases ask for."""

    spec: TenantSpec
    reads: ReadModels
    monitoring: Monitoring
    presenter: IngestionPresenter
    now: datetime
    busiest: str = ""
    typical: str = ""
    idle: str = ""
    run_id: str = ""
    page: list[Any] = field(default_factory=list)
    cursors: dict[str, str | None] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        """The tenant id."""
        return self.spec.tenant_id

    @property
    def caller(self) -> Caller:
        """An API key of the tenant."""
        return Caller(tenant_id=self.tenant, key_id="key_bench")

    @property
    def page_ids(self) -> list[str]:
        """Ids of the first page of 50 ingestions."""
        return [row["id"] for row in self.page]


Call = Callable[[Target], Awaitable[Any]]


@dataclass(frozen=True)
class Case:
    """One read call and the endpoint it serves."""

    name: str
    endpoint: str
    call: Call


def _cases() -> list[Case]:
    return [*_ingestion_cases(), *_run_cases(), *_monitoring_cases()]


def _ingestion_cases() -> list[Case]:
    listing = "GET /ingestions"
    return [
        Case("list_ingestions (default, 50)", listing, lambda t: t.reads.list_ingestions(t.tenant, IngestionFilter())),
        Case(
            "list_ingestions status=active sort=name",
            listing,
            lambda t: t.reads.list_ingestions(t.tenant, IngestionFilter(status="active", sort="name")),
        ),
        Case(
            "list_ingestions q=orders source_type=s3",
            listing,
            lambda t: t.reads.list_ingestions(t.tenant, IngestionFilter(q="orders", source_type="s3")),
        ),
        Case(
            "list_ingestions page 2 (cursor)",
            listing,
            lambda t: t.reads.list_ingestions(t.tenant, IngestionFilter(cursor=t.cursors["ingestions"])),
        ),
        Case("IngestionPresenter.many (50 rows)", listing, lambda t: t.presenter.many(t.caller, t.page)),
        Case(
            "recent_run_averages (50 ids)",
            listing,
            lambda t: t.reads.recent_run_averages(t.tenant, t.page_ids, limit=20),
        ),
        Case("active_alerts (50 ids)", listing, lambda t: t.monitoring.active_alerts(t.tenant, t.page_ids)),
        Case("ingestion (one)", "GET /ingestions/{id}", lambda t: t.reads.ingestion(t.tenant, t.busiest)),
        Case(
            "run_samples (busiest, 20)", "cost estimate", lambda t: t.reads.run_samples(t.tenant, t.busiest, limit=20)
        ),
        Case("rows_per_byte (busiest)", "cost estimate", lambda t: t.reads.rows_per_byte(t.tenant, t.busiest)),
        Case(
            "cluster_usage",
            "GET /clusters",
            lambda t: t.reads.cluster_usage(t.tenant, default_cluster_id=f"clu_{t.spec.key}_0"),
        ),
        Case("list_clusters", "GET /clusters", lambda t: t.reads.list_clusters(t.tenant, limit=50, cursor=None)),
        Case(
            "list_schema_versions",
            "GET /ingestions/{id}/schema-versions",
            lambda t: t.reads.list_schema_versions(t.tenant, t.spec.ingestion_id(0), limit=50, cursor=None),
        ),
    ]


def _run_cases() -> list[Case]:
    runs = "GET /ingestions/{id}/runs"
    return [
        Case(
            "list_runs (busiest, 30 days, 50)",
            runs,
            lambda t: t.reads.list_runs(t.tenant, t.busiest, days=30, limit=50, cursor=None, now=t.now),
        ),
        Case(
            "list_runs page 2 (busiest, cursor)",
            runs,
            lambda t: t.reads.list_runs(t.tenant, t.busiest, days=30, limit=50, cursor=t.cursors["runs"], now=t.now),
        ),
        Case(
            "list_runs (typical, 90 days, 500)",
            runs,
            lambda t: t.reads.list_runs(t.tenant, t.typical, days=90, limit=500, cursor=None, now=t.now),
        ),
        Case("run (one)", "GET /ingestions/{id}/runs/{run_id}", lambda t: t.reads.run(t.tenant, t.busiest, t.run_id)),
        Case(
            "run_files (one run)", "GET /ingestions/{id}/runs/{run_id}", lambda t: t.reads.run_files(t.tenant, t.run_id)
        ),
        Case("active_run (busiest)", "run control", lambda t: t.reads.active_run(t.tenant, t.busiest)),
        Case("active_run (busiest idle one)", "run control", lambda t: t.reads.active_run(t.tenant, t.idle)),
        Case(
            "list_files (busiest, 100)",
            "GET /ingestions/{id}/files",
            lambda t: t.reads.list_files(t.tenant, t.busiest, state=None, limit=100, cursor=None),
        ),
        Case(
            "list_files state=failed (busiest)",
            "GET /ingestions/{id}/files",
            lambda t: t.reads.list_files(t.tenant, t.busiest, state="failed", limit=100, cursor=None),
        ),
    ]


def _monitoring_cases() -> list[Case]:
    metrics = "GET /ingestions/{id}/metrics"
    return [
        Case(
            "metrics days=7 (busiest)", metrics, lambda t: t.monitoring.metrics(t.tenant, t.busiest, days=7, now=t.now)
        ),
        Case(
            "metrics days=7 (typical)", metrics, lambda t: t.monitoring.metrics(t.tenant, t.typical, days=7, now=t.now)
        ),
        Case(
            "metrics days=90 (busiest)",
            metrics,
            lambda t: t.monitoring.metrics(t.tenant, t.busiest, days=90, now=t.now),
        ),
        Case("dashboard", "GET /dashboard", lambda t: t.monitoring.dashboard(t.tenant, now=t.now)),
        Case(
            "events (busiest, 100)",
            "GET /ingestions/{id}/events",
            lambda t: t.monitoring.events(t.tenant, t.busiest, limit=100, cursor=None),
        ),
        Case(
            "events page 2 (busiest, cursor)",
            "GET /ingestions/{id}/events",
            lambda t: t.monitoring.events(t.tenant, t.busiest, limit=100, cursor=t.cursors["events"]),
        ),
        Case(
            "alerts (all, 50)",
            "GET /alerts",
            lambda t: t.monitoring.alerts(t.tenant, status=None, ingestion_id=None, limit=50, cursor=None),
        ),
        Case(
            "alerts status=active (50)",
            "GET /alerts",
            lambda t: t.monitoring.alerts(t.tenant, status="active", ingestion_id=None, limit=50, cursor=None),
        ),
    ]


# --- the database -----------------------------------------------------------------------------------


def tenant_specs(args: argparse.Namespace) -> tuple[TenantSpec, TenantSpec]:
    """The small tenant (fixed) and the big one (``--ingestions``/``--runs``/``--files`` times ``--scale``)."""
    small = TenantSpec(tenant_id="tnt_small", key="small", ingestions=10, runs=1000, files=1000)
    big = TenantSpec(
        tenant_id="tnt_big",
        key="big",
        ingestions=max(60, round(args.ingestions * args.scale)),
        runs=max(1000, round(args.runs * args.scale)),
        files=max(1000, round(args.files * args.scale)),
        seq_base=1_000_000_000,
    )
    return small, big


async def seed(pool: Pool, specs: tuple[TenantSpec, ...], now: datetime) -> dict[str, Any]:
    """Fill both tenants, then VACUUM ANALYZE (as autovacuum would have); return counts and seconds."""
    started = time.perf_counter()
    counts = {}
    async with pool.acquire() as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        for spec in specs:
            counts[spec.tenant_id] = await seed_tenant(conn, spec, now)
            print(f"seeded {spec.tenant_id}: {counts[spec.tenant_id]}", flush=True)
        await conn.execute("VACUUM ANALYZE")
    sizes = await table_sizes(pool)
    return {"rows": counts, "seconds": round(time.perf_counter() - started, 1), "tables": sizes}


async def table_sizes(pool: Pool) -> dict[str, dict[str, Any]]:
    """Rows (estimated) and total size with indexes of every read-model table."""
    rows = await pool.fetch(
        """SELECT c.relname, c.reltuples::bigint AS rows, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'read' AND c.relkind = 'r' ORDER BY c.relname"""
    )
    return {r["relname"]: {"rows": int(r["rows"]), "size": r["size"]} for r in rows}


def build_target(pool: RecordingPool, spec: TenantSpec, now: datetime) -> Target:
    """The API's read objects, wired as ``autoloader_api.app.create_app`` wires them, on ``pool``."""
    real = cast(Pool, pool)
    reads = ReadModels(real)
    monitoring = Monitoring(real)
    clock = FakeClock(now)
    # The seeded configurations name no cluster, so the cost estimator never reads the event store.
    clusters = ClusterCommands(store=cast(EventStore, None), reads=reads, clock=clock, tokens=None)
    costs = CostEstimator(
        clusters=clusters, reads=reads, clock=clock, batch_max_files=100, batch_max_bytes=512 * 1024 * 1024
    )
    presenter = IngestionPresenter(
        reads=reads, credentials=SourceCredentials(None), costs=costs, monitoring=monitoring, clock=clock
    )
    return Target(spec=spec, reads=reads, monitoring=monitoring, presenter=presenter, now=now)


async def prepare(target: Target, pool: Pool) -> None:
    """Pick the ids the cases read (busiest and a typical ingestion, a run with files) and page-2 cursors."""
    tenant = target.tenant
    target.busiest = await pool.fetchval(
        """SELECT ingestion_id FROM read.daily_run_stats WHERE tenant_id = $1
           GROUP BY ingestion_id ORDER BY sum(runs) DESC LIMIT 1""",
        tenant,
    )
    target.typical = await pool.fetchval(
        """SELECT ingestion_id FROM (SELECT ingestion_id, sum(runs) AS n FROM read.daily_run_stats
           WHERE tenant_id = $1 GROUP BY ingestion_id) s ORDER BY n OFFSET (SELECT count(DISTINCT ingestion_id) / 2
           FROM read.daily_run_stats WHERE tenant_id = $1) LIMIT 1""",
        tenant,
    )
    target.idle = await pool.fetchval(
        """SELECT ingestion_id FROM read.daily_run_stats s WHERE tenant_id = $1 AND NOT EXISTS
             (SELECT 1 FROM read.runs r WHERE r.ingestion_id = s.ingestion_id AND r.status IN ('queued', 'running'))
           GROUP BY ingestion_id ORDER BY sum(runs) DESC LIMIT 1""",
        tenant,
    )
    target.run_id = await pool.fetchval(
        "SELECT run_id FROM read.files WHERE tenant_id = $1 AND ingestion_id = $2 AND run_id IS NOT NULL LIMIT 1",
        tenant,
        target.busiest,
    )
    first = await target.reads.list_ingestions(tenant, IngestionFilter())
    target.page = first.rows
    runs = await target.reads.list_runs(tenant, target.busiest, days=30, limit=50, cursor=None, now=target.now)
    events = await target.monitoring.events(tenant, target.busiest, limit=100, cursor=None)
    target.cursors = {"ingestions": first.next_cursor, "runs": runs.next_cursor, "events": events.next_cursor}


async def median_ms(case: Case, target: Target, repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call (statement cache, buffers)."""
    await case.call(target)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await case.call(target)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- EXPLAIN ----------------------------------------------------------------------------------------


async def explain(
    case: Case, target: Target, recorder: RecordingPool, pool: Pool, large: set[str]
) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) every statement ``case`` sends for ``target``."""
    with recorder.recording() as statements:
        await case.call(target)
    found = []
    for sql, args in statements:
        text = await pool.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        plan = json.loads(text)[0] if isinstance(text, str) else text[0]
        found.append(_summary(sql, plan, large))
    return found


def _summary(sql: str, plan: dict[str, Any], large: set[str]) -> dict[str, Any]:
    top = plan["Plan"]
    nodes = list(_nodes(top))
    return {
        "sql": " ".join(sql.split())[:160],
        "execution_ms": round(plan["Execution Time"], 3),
        "shared_buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "scans": sorted(
            {f"{n['Node Type']} {n.get('Index Name') or n.get('Relation Name')}" for n in nodes if _scan(n)}
        ),
        "seq_scans_on_large_tables": [
            {"table": n["Relation Name"], "rows_read": _rows_read(n)}
            for n in nodes
            if n["Node Type"] == "Seq Scan" and n["Relation Name"] in large
        ],
    }


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _scan(node: dict[str, Any]) -> bool:
    return "Scan" in node["Node Type"] and ("Relation Name" in node or "Index Name" in node)


def _rows_read(node: dict[str, Any]) -> int:
    loops = node.get("Actual Loops", 1)
    return int((node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops)


async def large_tables(pool: Pool) -> set[str]:
    """Read-model tables with more than ``LARGE_TABLE_ROWS`` rows."""
    sizes = await table_sizes(pool)
    return {name for name, size in sizes.items() if size["rows"] > LARGE_TABLE_ROWS}


# --- the run ----------------------------------------------------------------------------------------


async def measure(
    pool: Pool, specs: tuple[TenantSpec, TenantSpec], now: datetime, repeats: int
) -> list[dict[str, Any]]:
    """Time every case for both tenants and EXPLAIN it on the big one."""
    recorder = RecordingPool(pool)
    small, big = (build_target(recorder, spec, now) for spec in specs)
    for target in (small, big):
        await prepare(target, pool)
    large = await large_tables(pool)
    results = []
    for case in _cases():
        small_ms = await median_ms(case, small, repeats)
        big_ms = await median_ms(case, big, repeats)
        plans = await explain(case, big, recorder, pool, large)
        results.append(
            {
                "case": case.name,
                "endpoint": case.endpoint,
                "small_ms": round(small_ms, 3),
                "big_ms": round(big_ms, 3),
                "ratio": round(big_ms / small_ms, 2) if small_ms else None,
                "statements": plans,
            }
        )
        print(f"  {case.name}: small {small_ms:.2f} ms, big {big_ms:.2f} ms", flush=True)
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    """The Markdown table of the README, then the findings."""
    print("\n| endpoint | read call | small ms | big ms | big/small | statements | seq scans (big) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        seqs = [s["table"] for plan in r["statements"] for s in plan["seq_scans_on_large_tables"]]
        print(
            f"| {r['endpoint']} | {r['case']} | {r['small_ms']:.2f} | {r['big_ms']:.2f} | {r['ratio']:.2f}x "
            f"| {len(r['statements'])} | {', '.join(seqs) or '-'} |"
        )
    slow = [r["case"] for r in results if r["big_ms"] > SLOW_MS]
    print(f"\nover {SLOW_MS:.0f} ms on the big tenant: {', '.join(slow) or 'none'}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start PostgreSQL, migrate, seed, measure; return the report."""
    specs = tenant_specs(args)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        server = PostgresServer(Path(tmp) / "pg", fsync=False).start()
        try:
            await ensure_database(server.url, "bench_reads")
            url = server.url_for("bench_reads")
            applied = await migrate(url)
            pool = await create_pool(url, min_size=1, max_size=4)
            try:
                seeded = await seed(pool, specs, now)
                print(f"seeded in {seeded['seconds']} s: {seeded['tables']}", flush=True)
                results = await measure(pool, specs, now, args.repeats)
            finally:
                await pool.close()
        finally:
            server.stop()
    return {
        "measured_at": now.isoformat(),
        "migrations": applied,
        "repeats": args.repeats,
        "tenants": {s.tenant_id: vars(s) for s in specs},
        "seed": seeded,
        "results": results,
    }


def main() -> None:
    """Parse the flags, run, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the big tenant's sizes (0.01: quick)")
    parser.add_argument("--ingestions", type=int, default=1000, help="ingestions of the big tenant")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs of the big tenant (over 90 days)")
    parser.add_argument("--files", type=int, default=300_000, help="approximate ledger files of the big tenant")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per case and tenant")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print_table(report["results"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
