"""A run with nothing new, on an ingestion whose ledger already holds many files (issue 13: <= 1 s at 100,000).

Writes ``--files`` tiny JSON-lines files (one row each) into the stack's landing folder, loads them
all with a first run, then times ``--rounds`` further manual runs with nothing new: ``POST /run`` to
the run's final status as the API reports it. The baseline, side by side, is the raw cost of listing
the same folder: ``os.scandir`` alone, and ``os.scandir`` plus one ``stat`` per file (what any
listing needs to notice a changed file).

The no-op run never reaches the loader: discovery lists, diffs against its ledger, plans no batch and
completes the run (the bench checks the run planned no batch and that the loader committed nothing new).

Usage: uv run python bench/noop_run.py [--files 100000] [--rounds 3] [--env AUTOLOADER_X=value ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import bench_data  # same folder (run as a script)
from autoloader_cli.servers import free_port
from autoloader_cli.stack import Stack


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
        runs.append({"seconds": seconds, "status": run["status"], "discovery_duration": discovery, "listing": listing})
    return raws, runs


def main() -> None:
    """Set up, run, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-files", type=int, default=5_000, help="AUTOLOADER_BATCH_MAX_FILES of the first run")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack's services (repeatable)")
    parser.add_argument("--out", default="noop_run.json", help="under bench/results/ (or absolute)")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs here at the end")
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
            ingestion = api.create(
                {
                    "name": "bench-noop",
                    "source": {"type": "local", "path": str(folder), "file_pattern": "*.jsonl"},
                    "format": {"type": "json"},
                    "discovery": {"max_files_per_run": None},
                    "destination": {"catalog": "lake", "database": "bench", "table": "noop"},
                }
            )
            first, first_s = api.run(ingestion, poll=0.2)
            if first["status"] != "success":
                raise SystemExit(f"first run ended {first['status']}: {first.get('errors')}")
            snapshot = api.table(ingestion)["current_snapshot_id"]
            assert snapshot is not None
            raws, rounds = noop_rounds(stack, api, ingestion, folder, args.rounds)
            table = api.table(ingestion)
            assert table["current_snapshot_id"] == snapshot, "a no-op run committed a snapshot"
            assert table["row_count"] == args.files, table
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
    }
    bench_data.publish(result, args.out)


if __name__ == "__main__":
    main()
