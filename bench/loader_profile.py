"""Where a batch's time goes in the embedded engine, next to the bare pipeline, on a realistic dataset.

Starts PostgreSQL (the Iceberg SQL catalog), writes one realistic dataset (:mod:`bench_data`), then
alternates over ``--rounds``: the bare pipeline (PyArrow read of every file, one PyIceberg append)
and ``EmbeddedEngine.load_batch`` on the same files as one batch (lineage columns on, the
product's default), each into a fresh table. No NATS, no services: this isolates the loader's
own cost from coordination (``full_stack_vs_bare.py`` measures the whole stack).

With ``--profile`` the last engine round runs under cProfile and the cumulative time of the
pipeline's stages is printed (reading, normalising, lineage, evolution, Parquet writing, commit).

Usage: uv run python bench/loader_profile.py [--format csv] [--files 40] [--rows 25000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from autoloader_cli.servers import PostgresServer
from autoloader_core.settings import Settings
from autoloader_db.database import ensure_database, migrate
from autoloader_loader.embedded import EmbeddedEngine
from bench_data import FORMATS, planned_batch, write_dataset
from full_stack_vs_bare import bare_load

STAGES = {
    "read files (PyArrow readers)": "autoloader_formats/readers.py:",
    "normalise for Iceberg": "normalise_for_iceberg",
    "lineage columns": "add_lineage",
    "evolution check / align": "evolution.py:",
    "combine chunks": "combined",
    "write Parquet (PyIceberg)": "_dataframe_to_data_files",
    "catalog commit": "commit_transaction",
}
"""Profile rows (substring of ``file:function``) whose cumulative time is reported as a stage."""


def stage_seconds(profile: cProfile.Profile) -> dict[str, float]:
    """Cumulative seconds of each :data:`STAGES` entry (the largest matching row)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    found: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    for (file, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{file}:{function}"
        for stage, needle in STAGES.items():
            if needle in key:
                found[stage] = max(found[stage], cumulative)
    return {k: round(v, 3) for k, v in found.items()}


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    postgres = PostgresServer(root / "pg" / "data", fsync=False).start()
    try:
        await ensure_database(postgres.url, "bench")
        database_url = postgres.url_for("bench")
        await migrate(database_url)
        await ensure_database(postgres.url, "bench_baseline")
        baseline_url = postgres.url_for("bench_baseline").replace("postgresql://", "postgresql+psycopg2://")
        landing = root / "landing"
        folder = landing / args.format
        size = write_dataset(folder, args.format, files=args.files, rows=args.rows)
        settings = Settings(database_url=database_url, local_roots=(landing,), warehouse=(root / "wh").as_uri())
        engine = EmbeddedEngine(settings)
        timings: dict[str, list[float]] = {"bare": [], "engine": []}
        stages: dict[str, float] = {}
        try:
            for round_no in range(args.rounds):
                rows, seconds = bare_load(
                    folder, baseline_url, root / "bare-wh", table_name=f"t{round_no}", fmt=args.format
                )
                assert rows == args.files * args.rows, rows
                timings["bare"].append(seconds)
                paths = sorted(folder.iterdir())
                planned = planned_batch(folder, paths, f"t{round_no}", fmt=args.format, lineage=True)
                profile = cProfile.Profile() if args.profile and round_no == args.rounds - 1 else None
                started = time.perf_counter()
                if profile is None:
                    result = await engine.load_batch(planned)
                else:
                    # In this thread: cProfile sees only the thread it was enabled in.
                    profile.enable()
                    result = engine._guarded(engine._load_batch, planned, None)
                    profile.disable()
                    stages = stage_seconds(profile)
                    profile.dump_stats(str(Path(__file__).parent / "results" / f"loader_{args.format}.prof"))
                timings["engine"].append(time.perf_counter() - started)
                assert result.rows == args.files * args.rows, result
        finally:
            await engine.close()
    finally:
        postgres.stop()
    bare_s, engine_s = (statistics.median(timings[k]) for k in ("bare", "engine"))
    return {
        "dataset": {"format": args.format, "files": args.files, "rows": args.files * args.rows, "bytes": size},
        "rounds": args.rounds,
        "bare_seconds": round(bare_s, 3),
        "engine_seconds": round(engine_s, 3),
        "ratio_engine_over_bare_throughput": round(bare_s / engine_s, 3),
        "all_seconds": {k: [round(v, 3) for v in vs] for k, vs in timings.items()},
        "profiled_stages_seconds": stages,
    }


def main() -> None:
    """Run and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autoloader-bench-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    (out / f"loader_profile_{args.format}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
