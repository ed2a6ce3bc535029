"""A run with nothing new, on an ingestion whose ledger already holds many files (issue 13: <= 1 s at 100,000).

Writes ``--files`` tiny JSON-lines files (one row each) into the stack's landing folder, loads them
all with a first run, then times ``--rounds`` further manual runs with nothing new: ``POST /run`` to
the run's final status as the API reports it. The baseline, side by side, is the raw cost of listing
the same folder: ``os.scandir`` alone, and ``os.scandir`` plus one ``stat`` per file (what any
listing needs to notice a changed file).

The no-op run never reaches the loader, so it opens no Spark session: discovery lists, diffs against
its ledger, plans no batch and completes the run. The bench checks that: each run's metrics count no
batch, discovery's own table holds no batch of those runs, and the loader committed nothing new.

``--profile`` then runs discovery's listing + diff (``Scanner.select`` on the stack's ledger) in this
process, a few times under cProfile, and reports its stages (walk alone, walk + ledger anti-joins, the
whole selection) and the functions where the time goes (``profile`` in the JSON, and the top of the
profile on stderr).

Usage: uv run python bench/noop_run.py [--files 100000] [--rounds 3] [--profile] [--env AUTOLOADER_X=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import bench_data  # same folder (run as a script)
from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack
from autoloader_contracts.events import file_identity
from autoloader_contracts.ingestion import DestinationSpec, DiscoverySpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_db.database import create_pool
from autoloader_discovery.ledger import Ledger, ListingState
from autoloader_discovery.scanning import LEDGER_PAGE, Scanner
from autoloader_sources.registry import open_source


def write_tiny_files(folder: Path, files: int) -> int:
    """Write ``files`` one-row JSON-lines files (os-level writes on a thread pool); return their bytes."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(start: int) -> int:
        written = 0
        for n in range(start, min(start + 1000, files)):
            data = b'{"id":%d,"name":"row-%d"}\n' % (n, n)
            fd = os.open(folder / f"f-{n:07d}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                written += os.write(fd, data)
            finally:
                os.close(fd)
        return written

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(write, range(0, files, 1000)))


def raw_listing(folder: Path) -> dict[str, float]:
    """The baseline: seconds of ``os.scandir`` of the folder, and of ``os.scandir`` + ``stat`` per file."""
    started = time.perf_counter()
    names = [entry.name for entry in os.scandir(folder)]
    scandir_s = time.perf_counter() - started
    started = time.perf_counter()
    sizes = [entry.stat().st_size for entry in os.scandir(folder) if entry.is_file()]
    stat_s = time.perf_counter() - started
    assert len(names) == len(sizes)
    return {"scandir": scandir_s, "scandir_stat": stat_s}


def listing_seconds(stack: Stack) -> float:
    """Discovery's total time listing sources and diffing them against the ledger so far (its metric)."""
    text = httpx.get(stack.metrics_urls["discovery"], timeout=10).text
    name = "autoloader_listing_duration_seconds_sum"
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class Api:
    """The bits of the HTTP API this bench drives."""

    def __init__(self, stack: Stack) -> None:
        self.http = httpx.Client(
            base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=600
        )

    def create(self, body: dict[str, Any]) -> str:
        created = self.http.post("/ingestions", json=body)
        created.raise_for_status()
        return str(created.json()["id"])

    def run(self, ingestion: str, *, poll: float = 0.01) -> tuple[dict[str, Any], float]:
        """``POST /run`` and wait for the run's final status; return (run, seconds)."""
        started = time.perf_counter()
        posted = self.http.post(f"/ingestions/{ingestion}/run")
        posted.raise_for_status()
        run_id = posted.json()["run_id"]
        while True:
            run = self.http.get(f"/ingestions/{ingestion}/runs/{run_id}").json()
            if run["status"] not in {"queued", "running"}:
                return run, time.perf_counter() - started
            time.sleep(poll)

    def table(self, ingestion: str) -> dict[str, Any]:
        return dict(self.http.get(f"/ingestions/{ingestion}/table").json())


def noop_rounds(
    stack: Stack, api: Api, ingestion: str, folder: Path, rounds: int
) -> tuple[list[dict[str, float]], list[dict[str, Any]]]:
    """Time ``rounds`` runs with nothing new, each after the raw listing; return (raw listings, runs)."""
    raws: list[dict[str, float]] = []
    runs: list[dict[str, Any]] = []
    for _ in range(rounds):
        raws.append(raw_listing(folder))
        before = listing_seconds(stack)
        run, seconds = api.run(ingestion)
        listing = listing_seconds(stack) - before
        metrics = run.get("metrics") or {}
        if run["status"] not in {"success", "skipped"} or metrics.get("batches", 0) != 0:
            raise SystemExit(f"no-op run: {run}")
        discovery = float(metrics.get("duration_seconds") or 0.0)
        runs.append(
            {
                "run_id": run["id"],
                "seconds": seconds,
                "status": run["status"],
                "discovery_duration": discovery,
                "listing": listing,
            }
        )
    return raws, runs


def ingestion_body(folder: Path) -> dict[str, Any]:
    """The bench's ingestion, as the API takes it."""
    return {
        "name": "bench-noop",
        "source": {"type": "local", "path": str(folder), "file_pattern": "*.jsonl"},
        "format": {"type": "json"},
        "discovery": {"max_files_per_run": None},
        "destination": {"catalog": "lake", "database": "bench", "table": "noop"},
    }


def ingestion_config(folder: Path) -> IngestionConfig:
    """The same ingestion as discovery holds it."""
    return IngestionConfig(
        name="bench-noop",
        source=SourceSpec(type="local", path=str(folder), file_pattern="*.jsonl"),
        format=FormatSpec(type="json"),
        discovery=DiscoverySpec(max_files_per_run=None),
        destination=DestinationSpec(catalog="lake", database="bench", table="noop"),
    )


async def planned_batches(stack: Stack, run_ids: list[str]) -> int:
    """Batches discovery planned for ``run_ids`` (its own table; a no-op run plans none)."""
    assert stack.settings is not None
    pool = await create_pool(stack.settings.database_url, max_size=1)
    try:
        return int(await pool.fetchval("SELECT count(*) FROM discovery.batches WHERE run_id = ANY($1)", run_ids))
    finally:
        await pool.close()


async def profile_discovery(stack: Stack, ingestion: str, folder: Path, *, rounds: int = 3) -> dict[str, Any]:
    """Discovery's listing + diff in this process: stage timings (median of ``rounds``) and a cProfile."""
    settings, tenant = stack.settings, stack.default_tenant
    assert settings is not None
    assert tenant is not None
    config = ingestion_config(folder)
    pool = await create_pool(settings.database_url, max_size=4)

    async def no_credentials(_tenant: str, _ref: str | None) -> None:
        return None

    ledger = Ledger(pool)
    roots = settings.allowed_roots
    scanner = Scanner(ledger=ledger, listing_state=ListingState(pool), credentials=no_credentials, allowed_roots=roots)

    def source_of() -> Any:
        return open_source(config.source, allowed_roots=roots)

    async def walk() -> int:
        async with source_of() as source:
            return sum([len(page) async for page in source.list_pages(size=LEDGER_PAGE)])

    async def walk_and_anti_join() -> int:
        unmatched = 0
        async with source_of() as source:
            async for page in source.list_pages(size=LEDGER_PAGE):
                paths = [f.path for f in page]
                identities = [file_identity(f.size, f.modified_at, f.etag) for f in page]
                unmatched += len(await ledger.unmatched_identities(ingestion, paths, identities))
        return unmatched

    async def select() -> int:
        now = datetime.now(UTC)
        selection = await scanner.select(
            tenant_id=tenant.tenant_id, ingestion_id=ingestion, config=config, now=now, persist=False
        )
        assert not selection.new, "the profiled selection found new files"
        return selection.listed

    stages: dict[str, dict[str, float]] = {}
    try:
        for name, stage in (("walk", walk), ("walk_and_anti_join_serial", walk_and_anti_join), ("select", select)):
            walls, cpus = [], []
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                await stage()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            stages[name] = {"wall": round(statistics.median(walls), 3), "cpu": round(statistics.median(cpus), 3)}
        # cProfile sees one thread: the profiled run walks in the event loop's (to_thread inlined).
        threaded = asyncio.to_thread
        asyncio.to_thread = inline
        profiler = cProfile.Profile()
        try:
            profiler.enable()
            await select()
            profiler.disable()
        finally:
            asyncio.to_thread = threaded
    finally:
        await pool.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    print(text.getvalue(), file=sys.stderr)
    top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:15]  # type: ignore[attr-defined]
    return {
        "stages_seconds": stages,
        "note": "cpu: this process (the walk's thread too); the profile ran the walk in the loop's thread",
        "top_tottime": [
            {"function": f"{Path(file).name}:{line}({func})", "calls": calls, "tottime": round(tt, 3),
             "cumtime": round(ct, 3)}
            for (file, line, func), (_, calls, tt, ct, _) in top
        ],
    }


async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``asyncio.to_thread`` without the thread (for cProfile)."""
    return func(*args, **kwargs)


def main() -> None:
    """Set up, run, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-files", type=int, default=5_000, help="AUTOLOADER_BATCH_MAX_FILES of the first run")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack's services (repeatable)")
    parser.add_argument("--out", default="noop_run.json", help="under bench/results/ (or absolute)")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs here at the end")
    parser.add_argument("--profile", action="store_true", help="profile discovery's listing + diff in-process")
    args = parser.parse_args()
    environ = {"AUTOLOADER_LOG_LEVEL": "WARNING", "AUTOLOADER_BATCH_MAX_FILES": str(args.batch_files)}
    environ |= dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        root = Path(tmp)
        with Stack(root / "stack", port=free_port(), environ=environ) as stack:
            folder = stack.landing_dir / "noop"
            started = time.perf_counter()
            size = write_tiny_files(folder, args.files)
            write_s = time.perf_counter() - started
            api = Api(stack)
            ingestion = api.create(ingestion_body(folder))
            first, first_s = api.run(ingestion, poll=0.2)
            if first["status"] != "success":
                raise SystemExit(f"first run ended {first['status']}: {first.get('errors')}")
            snapshot = api.table(ingestion)["current_snapshot_id"]
            assert snapshot is not None
            raws, rounds = noop_rounds(stack, api, ingestion, folder, args.rounds)
            table = api.table(ingestion)
            assert table["current_snapshot_id"] == snapshot, "a no-op run committed a snapshot"
            assert table["row_count"] == args.files, table
            planned = asyncio.run(planned_batches(stack, [r["run_id"] for r in rounds]))
            assert planned == 0, f"no-op runs planned {planned} loader batches"
            profile = asyncio.run(profile_discovery(stack, ingestion, folder)) if args.profile else None
            if args.keep_logs:
                shutil.copytree(stack.logs_dir, args.keep_logs, dirs_exist_ok=True)
    noops, in_discovery, listings, statuses = (
        [r["seconds"] for r in rounds],
        [r["discovery_duration"] for r in rounds],
        [r["listing"] for r in rounds],
        [r["status"] for r in rounds],
    )
    noop_s = statistics.median(noops)
    scandir_s = statistics.median(r["scandir"] for r in raws)
    stat_s = statistics.median(r["scandir_stat"] for r in raws)
    result = {
        "files": args.files,
        "bytes": size,
        "rounds": args.rounds,
        "environment": environ,
        "setup": {"write_files_seconds": round(write_s, 3), "first_run_seconds": round(first_s, 3)},
        "noop_run_seconds": round(noop_s, 3),
        "noop_run_status": statuses,
        "discovery_run_duration_seconds": round(statistics.median(in_discovery), 3),
        "discovery_listing_and_diff_seconds": round(statistics.median(listings), 3),
        "raw_scandir_seconds": round(scandir_s, 4),
        "raw_scandir_stat_seconds": round(stat_s, 4),
        "ratio_noop_over_scandir_stat": round(noop_s / stat_s, 2),
        "all_seconds": {
            "noop_run": [round(s, 3) for s in noops],
            "discovery_run_duration": in_discovery,
            "discovery_listing_and_diff": [round(s, 3) for s in listings],
            "scandir": [round(r["scandir"], 4) for r in raws],
            "scandir_stat": [round(r["scandir_stat"], 4) for r in raws],
        },
        "target_seconds": 1.0,
        "loader_batches_planned": 0,
    }
    if profile is not None:
        result["profile"] = profile
    bench_data.publish(result, args.out)


if __name__ == "__main__":
    main()
