"""Listing + ledger diff of many S3 objects, the way discovery does it, with time, memory and requests.

For each object count N (default 20,000 and 100,000):
  1. a fresh bucket in a moto server (its own process, so its memory and CPU are not measured here)
     gets N tiny objects, uploaded concurrently;
  2. a fresh PostgreSQL database (``autoloader_db`` migrations) gets 90 % of them in
     ``discovery.ledger`` with their S3 identity (the ETag);
  3. the S3 connector (page size 1000) lists the bucket and discovery's own code diffs it against
     the ledger a page at a time (``Source.list_pages`` -> ``Ledger.unmatched_identities``, one
     anti-join per page -> ``scanning.offer_unmatched``), once for wall time, then again under
     tracemalloc for the peak memory (beside a listing alone, and the client alone: botocore's S3
     model is a fixed ~10 MiB).
moto answers each ListObjectsV2 page by scanning and sorting the whole bucket, so its listing time
grows faster than the key count; ``bench_process_cpu_seconds`` is our side's share.
Nothing is cached between runs: every run has its own bucket, database and connector.

Prints a JSON summary and writes it to bench/results/listing_s3.json.

Usage: uv run python bench/listing_s3.py [--counts 20000 100000] [--known 0.9] [--concurrency 64] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from autoloader_cli.servers import PostgresServer, free_port
from autoloader_contracts.events import file_identity
from autoloader_contracts.ingestion import DiscoverySpec, SourceSpec
from autoloader_db.database import create_pool, ensure_database, migrate
from autoloader_discovery.domain import Selector
from autoloader_discovery.ledger import Ledger
from autoloader_discovery.scanning import LEDGER_PAGE, offer_unmatched
from autoloader_sources.registry import open_source
from autoloader_sources.s3 import S3Source

KEY = {"access_key_id": "bench", "secret_access_key": "bench-secret"}
PAGE_SIZE = 1000
RESULTS = Path(__file__).parent / "results" / "listing_s3.json"
T = TypeVar("T")


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server process on a free port; yields its endpoint URL."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto_server exited")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2) as response:  # noqa: S310 - local
                response.read()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto_server did not answer")


def object_key(n: int) -> str:
    """Date-stamped keys, the common layout: data/day=DDD/file-NNNNNNN.csv."""
    return f"data/day={n // 5000:03d}/file-{n:07d}.csv"


def content(n: int) -> bytes:
    return f"id\n{n}\n".encode()


async def upload(endpoint: str, bucket: str, count: int, concurrency: int) -> float:
    """Create ``bucket`` and put ``count`` tiny objects; return the seconds it took."""
    started = time.perf_counter()
    config = AioConfig(s3={"addressing_style": "path"}, max_pool_connections=concurrency)
    async with get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=config,
        aws_access_key_id=KEY["access_key_id"],
        aws_secret_access_key=KEY["secret_access_key"],
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
        queue = iter(range(count))

        async def worker() -> None:
            for n in queue:
                await s3.put_object(Bucket=bucket, Key=object_key(n), Body=content(n))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def fill_ledger(ledger_pool: Any, ingestion_id: str, count: int, known_fraction: float) -> int:
    """Record the first ``known_fraction`` of every ten objects as already loaded; return how many."""
    known_per_ten = round(known_fraction * 10)
    now = datetime.now(UTC)
    rows = [
        (
            "t_bench",
            ingestion_id,
            object_key(n).removeprefix("data/"),
            _etag(n),
            len(content(n)),
            _etag(n),
            now - timedelta(days=1),
            now,
            "run_bench",
            "loaded",
        )
        for n in range(count)
        if n % 10 < known_per_ten
    ]
    await ledger_pool.copy_records_to_table(
        "ledger",
        schema_name="discovery",
        records=rows,
        columns=[
            "tenant_id",
            "ingestion_id",
            "path",
            "identity",
            "size",
            "etag",
            "modified_at",
            "first_seen_at",
            "run_id",
            "state",
        ],
    )
    await ledger_pool.execute("ANALYZE discovery.ledger")
    return len(rows)


def _etag(n: int) -> str:
    return hashlib.md5(content(n)).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload


async def list_and_diff(spec: SourceSpec, ledger: Ledger, ingestion_id: str, rules: DiscoverySpec) -> dict[str, Any]:
    """Discovery's listing + diff; returns what it found and how many requests it made."""
    selector = Selector(rules=rules, now=datetime.now(UTC) + timedelta(days=1))
    ledger_queries = 0
    async with open_source(spec, credentials=KEY) as source:
        assert isinstance(source, S3Source)
        async for page in source.list_pages(size=LEDGER_PAGE):
            paths = [f.path for f in page]
            identities = [file_identity(f.size, f.modified_at, f.etag) for f in page]
            unmatched = await ledger.unmatched_identities(ingestion_id, paths, identities)
            ledger_queries += 1
            offer_unmatched(selector, page, unmatched)
        list_requests = source.list_requests
    selection = selector.selection
    return {
        "listed": selection.listed,
        "new_found": len(selection.new) + selection.backlog_files,
        "new_taken_this_run": len(selection.new),
        "backlog": selection.backlog_files,
        "list_requests": list_requests,
        "ledger_queries": ledger_queries,
    }


async def listing_only(spec: SourceSpec) -> int:
    """The connector's listing alone (no ledger), to separate its memory from the diff's."""
    count = 0
    async with open_source(spec, credentials=KEY) as source:
        async for _ in source.list_files():
            count += 1
    return count


async def client_only(spec: SourceSpec) -> None:
    """Open and close the connector without listing: the SDK's fixed cost (botocore loads its S3 model)."""
    async with open_source(spec, credentials=KEY):
        pass


async def one_run(endpoint: str, pg: PostgresServer, count: int, args: argparse.Namespace) -> dict[str, Any]:
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    upload_s = await upload(endpoint, bucket, count, args.concurrency)
    database = f"bench_{uuid.uuid4().hex[:12]}"
    await ensure_database(pg.url, database)
    await migrate(pg.url_for(database))
    pool = await create_pool(pg.url_for(database), max_size=2)
    try:
        ingestion_id = f"ing_{uuid.uuid4().hex[:12]}"
        in_ledger = await fill_ledger(pool, ingestion_id, count, args.known)
        ledger = Ledger(pool)
        spec = SourceSpec(
            type="s3",
            path=f"s3://{bucket}/data/",
            file_pattern="**/*.csv",
            options={"endpoint_url": endpoint, "page_size": PAGE_SIZE},
        )
        rules = DiscoverySpec()  # the product defaults (max_files_per_run=1000: the rest is backlog)
        listing_wall, _ = await timed(listing_only(spec))
        wall, (cpu, found) = await timed(cpu_timed(list_and_diff(spec, ledger, ingestion_id, rules)))
        client_peak = await peak_memory(client_only(spec))
        diff_peak = await peak_memory(list_and_diff(spec, ledger, ingestion_id, rules))
        list_peak = await peak_memory(listing_only(spec))
    finally:
        await pool.close()
    return {
        "objects": count,
        "in_ledger": in_ledger,
        "upload_seconds": round(upload_s, 1),
        "list_and_diff_seconds": round(wall, 2),
        "objects_per_second": round(count / wall),
        "bench_process_cpu_seconds": round(cpu, 2),
        "listing_only_seconds": round(listing_wall, 2),
        "peak_memory_list_and_diff_mib": _mib(diff_peak),
        "peak_memory_listing_only_mib": _mib(list_peak),
        "peak_memory_client_only_mib": _mib(client_peak),
        **found,
    }


async def timed(work: Awaitable[T]) -> tuple[float, T]:
    """(wall seconds, result) of ``work``."""
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def cpu_timed(work: Awaitable[T]) -> tuple[float, T]:
    """(CPU seconds of this process, result): our side's cost, without the server's."""
    started = time.process_time()
    result = await work
    return time.process_time() - started, result


async def peak_memory(work: Awaitable[object]) -> int:
    """Peak bytes allocated by Python while ``work`` runs (garbage of earlier phases collected first)."""
    gc.collect()
    tracemalloc.start()
    try:
        await work
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mib(size: int) -> float:
    return round(size / 2**20, 2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, moto_server() as endpoint:
        pg = PostgresServer(Path(tmp) / "data", fsync=False).start()
        try:
            for count in args.counts:
                result = await one_run(endpoint, pg, count, args)
                print(json.dumps(result), flush=True)
                runs.append(result)
        finally:
            pg.stop()
    return {
        "benchmark": "s3 listing + ledger diff",
        "server": "moto_server (separate process)",
        "page_size": PAGE_SIZE,
        "ledger_page": LEDGER_PAGE,
        "known_fraction": args.known,
        "runs": runs,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--known", type=float, default=0.9, help="fraction of objects already in the ledger")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON summary")
    arguments = parser.parse_args()
    summary = asyncio.run(main(arguments))
    arguments.out.parent.mkdir(exist_ok=True)
    arguments.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
