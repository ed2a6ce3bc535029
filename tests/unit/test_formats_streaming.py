"""Bounded memory: streaming a file much larger than a batch keeps peak allocation far below its size.

Arrow allocations are measured on a fresh ``pa.proxy_memory_pool`` installed as the default pool
(its ``max_memory`` is this read's peak alone); Python-side buffers (pyarrow's read-ahead of a
Python file, our JSON chunks) with ``tracemalloc``. A control read of the whole file proves the
measure sees the data.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from autoloader_contracts.ingestion import FormatSpec
from autoloader_formats import iter_batches

pytestmark = pytest.mark.unit

MiB = 1024 * 1024


def _write_repeated(path: Path, header: bytes, block: bytes, target_bytes: int) -> int:
    with path.open("wb") as out:
        out.write(header)
        written = len(header)
        while written < target_bytes:
            out.write(block)
            written += len(block)
    return written


def _peaks(read: Callable[[], int]) -> tuple[int, int, int]:
    """Run ``read``; return (its result, Arrow pool peak, Python heap peak)."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        result = read()
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return result, pool.max_memory(), python_peak


def _count(batches: Iterator[pa.RecordBatch]) -> int:
    return sum(batch.num_rows for batch in batches)


def test_csv_of_140_mib_streams_with_a_peak_under_a_fifth_of_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    block = "".join(f"{i},name-{i},{i * 0.5},2024-01-01\n" for i in range(100_000)).encode()
    size = _write_repeated(path, b"id,name,score,day\n", block, 140 * MiB)
    expected_rows = (size - len(b"id,name,score,day\n")) // len(block) * 100_000

    rows, arrow_peak, python_peak = _peaks(
        lambda: _count(iter_batches(str(path), FormatSpec(type="csv"), path_for_errors="big.csv"))
    )
    assert rows == expected_rows
    assert arrow_peak < size / 5, f"Arrow peak {arrow_peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"
    assert python_peak < size / 5, f"Python peak {python_peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"

    whole_rows, whole_peak, _ = _peaks(lambda: pacsv.read_csv(str(path)).num_rows)
    assert whole_rows == expected_rows
    assert whole_peak > size  # the measure sees a whole-file read


def test_json_lines_of_60_mib_stream_with_a_peak_under_a_third_of_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    block = "".join(f'{{"id": {i}, "name": "name-{i}", "score": {i * 0.5}}}\n' for i in range(50_000)).encode()
    size = _write_repeated(path, b"", block, 60 * MiB)

    rows, arrow_peak, python_peak = _peaks(
        lambda: _count(iter_batches(str(path), FormatSpec(type="json"), path_for_errors="big.jsonl"))
    )
    assert rows == size // len(block) * 50_000
    assert arrow_peak < size / 3, f"Arrow peak {arrow_peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"
    assert python_peak < size / 3, f"Python peak {python_peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"
