"""Bounded memory: a batch much larger than a row group loads with a peak far below the file's size.

Arrow allocations are measured on a fresh ``pa.proxy_memory_pool`` installed as the default pool
(its ``max_memory`` is this load's peak alone), the technique of tests/unit/test_formats_streaming.py.
The whole-file loader this replaced peaked at ~450 MiB (3x the file) on the same 152 MiB CSV; the
streaming one at ~55 MiB.
The loader streams each file in groups of at most ``streaming.GROUP_ROWS`` rows inside one
PyIceberg transaction, so the peak follows the group size, not the file size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pytest

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SourceSpec
from autoloader_core.ids import new_id
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import TableRef

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
BLOCK_ROWS = 100_000
T = TypeVar("T")




def _write_big_csv(path: Path, target_bytes: int) -> int:
    """Write ``id,name,score,day`` rows until the file passes ``target_bytes``; return the row count."""
    rows = 0
    with path.open("w") as out:
        out.write("id,name,score,day\n")
        while out.tell() < target_bytes:
            out.write("".join(f"{i},name-{i},{i * 0.5},2024-01-01\n" for i in range(rows, rows + BLOCK_ROWS)))
            rows += BLOCK_ROWS
    return rows


async def _peak(load: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    try:
        result = await load()
    finally:
        pa.set_memory_pool(previous)
    return result, pool.max_memory()


def _planned(folder: Path, ref: FileRef) -> BatchPlanned:
    run_id = new_id("run")
    return BatchPlanned(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id="tnt_mem",
        aggregate_id=new_id("bat"),
        actor="service:discovery",
        correlation_id=run_id,
        ingestion_id="ing_mem",
        run_id=run_id,
        batch_number=1,
        files=[ref],
        source=SourceSpec(type="local", path=str(folder)),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(catalog="lake", database="db", table="big"),
    )


async def test_a_csv_far_larger_than_a_group_loads_once_with_a_peak_under_half_its_size(
    engine: EmbeddedEngine, landing: Path
) -> None:
    path = landing / "big.csv"
    expected = _write_big_csv(path, 150 * MiB)
    size = path.stat().st_size
    batch = _planned(landing, FileRef(path="big.csv", size=size, modified_at=datetime.now(UTC)))

    result, peak = await _peak(lambda: engine.load_batch(batch))
    print(f"\nloaded {expected} rows of a {size / MiB:.0f} MiB CSV; Arrow peak {peak / MiB:.0f} MiB")

    assert result.rows == expected
    assert [f.rows for f in result.files] == [expected]
    info = await engine.table_info(TableRef("tnt_mem", "lake", "db", "big"))
    assert info["row_count"] == expected
    assert {s["summary"]["autoloader.batch-id"] for s in info["snapshots"]} == {batch.aggregate_id}
    assert info["snapshots"][-1]["snapshot_id"] == result.snapshot_id
    assert [c["name"] for c in info["schema"]][:4] == ["id", "name", "score", "day"]
    committed = await engine.find_committed(batch)
    assert committed is not None
    assert committed.rows == expected
    assert [f.rows for f in committed.files] == [expected]
    assert peak < size / 2, f"Arrow peak {peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"
