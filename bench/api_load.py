"""The API under load: p50/p95/p99 of GET /ingestions, /ingestions/{id}/runs and /dashboard over HTTP.

Starts PostgreSQL the way the tests do (``autoloader_cli.servers.PostgresServer``, fsync off),
applies the project's migrations, seeds a small tenant and a big one (1,000 ingestions, 1,000,000
runs: bench/read_models_seed.py, as bench/api_reads_at_scale.py does) and gives each an API key.
Then it starts the real API app (``autoloader_api.app.create_app`` served by uvicorn through
``serve_http``, on its own pool, in a child process so the load generator does not share its event
loop) and drives it from loopback: for each case a few warm-up requests, then ``--requests``
requests from ``--clients`` concurrent httpx clients, stopped early after ``--seconds`` (bounded in
count and in time). Every answer must be 200. Latency is measured at the client, request to last
byte of the body.

The API needs no NATS for these reads (the bus is only used by commands), so none is started.

``--pgdata DIR`` keeps the seeded cluster in DIR: a second run reuses it (no seed) and applies only
the migrations it lacks, reporting how long they took (e.g. a migration rewriting read.runs).

Prints a table and writes bench/results/api_load.json (``--out``).

Usage: uv run python bench/api_load.py [--scale 1.0] [--requests 400] [--clients 4] [--seconds 60]
       [--pgdata DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "api_load.json"
TARGET_P99_MS = 100
WARMUP = 10


@dataclass(frozen=True)
class Case:
    """One endpoint the load generator calls, for one tenant."""

    name: str
    tenant: str
    path: str


# --- the API, in its own process -----------------------------------------------------------------


async def serve(database_url: str, port: int) -> None:
    """Serve the real app on ``port`` until SIGTERM (the child process's body)."""
    from autoloader_api.app import create_app, freeze_startup_heap, open_api_pool, serve_http
    from autoloader_core.settings import Settings
    from autoloader_db.database import close_pool

    settings = Settings(database_url=database_url, rate_limit_per_second=0)
    pool = await open_api_pool(database_url)  # the service's own pool (autoloader_api.app.body)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        app = create_app(settings, bus=None, pool=pool)  # type: ignore[arg-type]  # reads need no bus
        freeze_startup_heap()
        await serve_http(app, host="127.0.0.1", port=port, stop=stop, on_started=lambda: print("started", flush=True))
    finally:
        await close_pool(pool)


@contextmanager
def api_process(database_url: str) -> Iterator[str]:
    """The API in a child process; yield its base URL."""
    from autoloader_cli.servers import free_port

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", database_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if "started" not in line:
            raise RuntimeError(f"the API did not start (exit code {child.wait(timeout=10)})")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --- the database --------------------------------------------------------------------------------


async def prepare_database(url: str, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """Migrate (timed), seed unless already seeded, give both tenants an API key; what was done."""
    from api_reads_at_scale import seed, tenant_specs  # same folder
    from autoloader_api.tenants import hash_key, new_api_key
    from autoloader_db.database import create_pool, migrate

    started = time.perf_counter()
    applied = await migrate(url)
    migrate_seconds = round(time.perf_counter() - started, 1)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        specs = tenant_specs(args)
        seeded_already = await pool.fetchval("SELECT count(*) FROM read.ingestions") > 0
        seeded = {"reused": True} if seeded_already else await seed(pool, specs, now)
        if seeded_already and applied:
            # What docs/operations.md says to do after an upgrade that rewrote read.runs (0012): the rewrite
            # drops the visibility map, and index-only scans fetch heap pages until a vacuum.
            await pool.execute("VACUUM ANALYZE read.runs")
        keys = {}
        for spec in specs:
            key = new_api_key()
            await pool.execute(
                "INSERT INTO api.tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", spec.tenant_id
            )
            await pool.execute(
                "INSERT INTO api.api_keys (id, tenant_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
                f"key_{spec.key}_{os.getpid()}_{time.monotonic_ns()}",
                spec.tenant_id,
                hash_key(key),
                key[:8],
            )
            keys[spec.tenant_id] = key
        busiest, typical = await _run_ingestions(pool, specs[1].tenant_id)
        counts = {}
        for spec in specs:
            counts[spec.tenant_id] = {
                table: await pool.fetchval(
                    f"SELECT count(*) FROM read.{table} WHERE tenant_id = $1",  # noqa: S608 - two names
                    spec.tenant_id,
                )
                for table in ("ingestions", "runs")
            }
    finally:
        await pool.close()
    return {
        "migrations": applied,
        "migrate_seconds": migrate_seconds,
        "seed": seeded,
        "keys": keys,
        "busiest": busiest,
        "typical": typical,
        "counts": counts,
        "small": specs[0].tenant_id,
        "big": specs[1].tenant_id,
    }


async def _run_ingestions(pool: Any, tenant: str) -> tuple[str, str]:
    rows = await pool.fetch(
        """SELECT ingestion_id, sum(runs) AS n FROM read.daily_run_stats s
           WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM read.ingestions i
                                            WHERE i.id = s.ingestion_id AND i.status <> 'deleted')
           GROUP BY ingestion_id ORDER BY n DESC""",
        tenant,
    )
    return rows[0]["ingestion_id"], rows[len(rows) // 2]["ingestion_id"]


def cases(db: dict[str, Any]) -> list[Case]:
    """The six timed cases."""
    big, small = db["big"], db["small"]
    return [
        Case("GET /ingestions (big tenant, first page of 50)", big, "/api/v1/ingestions"),
        Case("GET /ingestions (small tenant)", small, "/api/v1/ingestions"),
        Case(
            "GET /ingestions/{id}/runs (big tenant, busiest ingestion)",
            big,
            f"/api/v1/ingestions/{db['busiest']}/runs",
        ),
        Case(
            "GET /ingestions/{id}/runs (big tenant, typical ingestion, days=90)",
            big,
            f"/api/v1/ingestions/{db['typical']}/runs?days=90",
        ),
        Case("GET /dashboard (big tenant)", big, "/api/v1/dashboard"),
        Case("GET /dashboard (small tenant)", small, "/api/v1/dashboard"),
    ]


# --- the load ------------------------------------------------------------------------------------


async def load(base_url: str, case: Case, key: str, *, requests: int, clients: int, seconds: float) -> dict[str, Any]:
    """``requests`` GETs of ``case`` from ``clients`` concurrent clients, stopped after ``seconds``."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        for _ in range(WARMUP):
            (await client.get(case.path)).raise_for_status()
        times: list[float] = []
        sent = 0
        statuses: dict[int, int] = {}
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                started = time.perf_counter()
                response = await client.get(case.path)
                times.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"{case.name}: answers other than 200: {statuses}")
    return {
        "name": case.name,
        "path": case.path,
        "requests": len(times),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(times) / elapsed, 1),
        "p50_ms": round(_percentile(times, 50), 2),
        "p95_ms": round(_percentile(times, 95), 2),
        "p99_ms": round(_percentile(times, 99), 2),
        "max_ms": round(max(times), 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[rank]


# --- the run -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start PostgreSQL, migrate, seed, start the API, drive every case; return the report."""
    from autoloader_cli.servers import PostgresServer
    from autoloader_db.database import ensure_database

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-api-load-") as tmp:
        data = Path(args.pgdata) if args.pgdata else Path(tmp) / "pg"
        server = PostgresServer(data, fsync=False).start()
        try:
            await ensure_database(server.url, "bench_api")
            url = server.url_for("bench_api")
            db = await prepare_database(url, args, now)
            print(f"migrations {db['migrations']} in {db['migrate_seconds']} s; seed: {db['seed']}", flush=True)
            results = []
            with api_process(url) as base_url:
                for case in cases(db):
                    if args.only and args.only not in case.name:
                        continue
                    result = await load(
                        base_url,
                        case,
                        db["keys"][case.tenant],
                        requests=args.requests,
                        clients=args.clients,
                        seconds=args.seconds,
                    )
                    results.append(result)
                    print(
                        f"  {case.name}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
                        f"p99 {result['p99_ms']} ms ({result['requests']} requests)",
                        flush=True,
                    )
        finally:
            server.stop()
    big = db["counts"][db["big"]]
    return {
        "measured_at": now.isoformat(),
        "load_average": os.getloadavg(),
        "target_p99_ms": TARGET_P99_MS,
        "clients": args.clients,
        "requests_per_case": args.requests,
        "seconds_cap_per_case": args.seconds,
        "scale": {"ingestions": big["ingestions"], "runs": big["runs"]},
        "tenants": db["counts"],
        "migrations": db["migrations"],
        "migrate_seconds": db["migrate_seconds"],
        "seed": db["seed"],
        "endpoints": results,
    }


def print_table(report: dict[str, Any]) -> None:
    """The Markdown table of the README."""
    print(f"\n| case | requests | p50 ms | p95 ms | p99 ms | p99 < {report['target_p99_ms']} ms |")
    print("|---|---:|---:|---:|---:|---|")
    for r in report["endpoints"]:
        met = "yes" if r["p99_ms"] < report["target_p99_ms"] else "**no**"
        print(f"| {r['name']} | {r['requests']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {met} |")
    print(f"\nload average during the run: {report['load_average']}")


def main() -> None:
    """Parse the flags; serve (child) or run, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the big tenant's sizes (0.01: quick)")
    parser.add_argument("--ingestions", type=int, default=1000, help="ingestions of the big tenant")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs of the big tenant (over 90 days)")
    parser.add_argument("--files", type=int, default=300_000, help="approximate ledger files of the big tenant")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per case")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="time cap per case")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--pgdata", help="keep (and reuse) the seeded PostgreSQL cluster in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON report goes")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # child process: the database URL
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        profile = os.environ.get("API_LOAD_PROFILE")  # a cProfile of the API process, for looking into it
        if profile:
            import cProfile

            cProfile.runctx("asyncio.run(serve(args.serve, args.port))", globals(), {"args": args}, profile)
        else:
            asyncio.run(serve(args.serve, args.port))
        return
    sys.path.insert(0, str(HERE))
    report = asyncio.run(run(args))
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
