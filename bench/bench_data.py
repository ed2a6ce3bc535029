"""Realistic benchmark datasets: wide, mixed-type rows as CSV, JSON lines, Parquet or many small files.

The shape is the one users' event exports have (issue 13): 11 columns — int64 id, int64 user id,
an ISO-8601 timestamp with microseconds and ``Z``, a float amount, a float ratio, a short category,
a name, a 2-letter country, a boolean, an int quantity and a ~30-character note. Values are drawn
from a seeded generator, so every run writes the same bytes.

Usage as a script (to look at the files): uv run python bench/bench_data.py csv /tmp/wide --files 4 --rows 1000
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SourceSpec
from autoloader_core.ids import new_id

FORMATS = ("csv", "jsonl", "parquet", "small_json")
"""``small_json`` is many small JSON-lines files (the small-files case)."""

_CATEGORIES = np.array(["books", "games", "garden", "music", "sports", "tools", "toys", "travel"])
_COUNTRIES = np.array(["DE", "FR", "GB", "US", "JP", "BR", "IN", "NL", "SE", "ES", "IT", "PL"])
_FIRST = np.array(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Linus", "Radia"])
_LAST = np.array(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman"])
_WORDS = np.array(["order", "shipped", "late", "gift", "priority", "return", "fragile", "promo", "bulk", "note"])
_EPOCH_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def wide_rows(start: int, count: int, *, seed: int = 13) -> pa.Table:
    """Rows ``start .. start+count`` of the realistic dataset as an Arrow table (string timestamps, like a file)."""
    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + count, dtype=np.int64)
    micros = _EPOCH_US + ids * 1_000_037 + rng.integers(0, 1_000_000, count)
    stamps = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    names = np.char.add(np.char.add(rng.choice(_FIRST, count), " "), rng.choice(_LAST, count))
    note = np.char.add(
        np.char.add(rng.choice(_WORDS, count), " "),
        np.char.add(np.char.add(rng.choice(_WORDS, count), " #"), rng.integers(10**15, 10**16, count).astype(str)),
    )
    return pa.table(
        {
            "id": ids,
            "user_id": rng.integers(1, 250_000, count, dtype=np.int64),
            "event_time": pa.array(np.char.add(stamps, "Z")),
            "amount": np.round(rng.gamma(2.0, 40.0, count), 2),
            "ratio": rng.random(count),
            "category": pa.array(rng.choice(_CATEGORIES, count)),
            "name": pa.array(names),
            "country": pa.array(rng.choice(_COUNTRIES, count)),
            "is_member": rng.random(count) < 0.3,
            "quantity": rng.integers(1, 20, count, dtype=np.int32),
            "note": pa.array(note),
        }
    )


def write_dataset(folder: Path, fmt: str, *, files: int, rows: int) -> int:
    """Write ``files`` files of ``rows`` rows each in ``fmt``; return the total bytes.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        data = wide_rows(n * rows, rows)
        path = folder / f"events-{n:05d}.{file_suffix(fmt)}"
        if fmt == "csv":
            pacsv.write_csv(data, path, pacsv.WriteOptions(quoting_style="needed"))
        elif fmt == "parquet":
            typed = data.set_column(2, "event_time", data["event_time"].cast(pa.timestamp("us", tz="UTC")))
            pq.write_table(typed, path)
        else:
            _write_json_lines(data, path)
    return sum(p.stat().st_size for p in folder.iterdir())


def file_suffix(fmt: str) -> str:
    """The file extension of ``fmt``'s files (the ingestion's ``file_pattern`` is ``*.<suffix>``)."""
    return {"csv": "csv", "parquet": "parquet"}.get(fmt, "jsonl")


def format_spec(fmt: str) -> dict[str, str]:
    """The ingestion's ``format`` body for ``fmt``."""
    return {"type": {"csv": "csv", "parquet": "parquet"}.get(fmt, "json")}


def planned_batch(
    folder: Path,
    paths: list[Path],
    table: str,
    *,
    fmt: str = "csv",
    lineage: bool = False,
    read_files: str = "auto",
    tenant: str = "tnt_bench",
) -> BatchPlanned:
    """One batch of ``paths`` (files of ``folder``, in ``fmt``) into ``bench.<table>``, as discovery plans it."""
    run_id = new_id("run")
    now = datetime.now(UTC)
    return BatchPlanned(
        event_id=new_id("evt"),
        occurred_at=now,
        tenant_id=tenant,
        aggregate_id=new_id("bat"),
        actor="service:discovery",
        correlation_id=run_id,
        ingestion_id="ing_bench",
        run_id=run_id,
        batch_number=1,
        files=[FileRef(path=p.name, size=p.stat().st_size, modified_at=now) for p in paths],
        source=SourceSpec(type="local", path=str(folder), file_pattern=f"*.{file_suffix(fmt)}"),
        format=FormatSpec(type=format_spec(fmt)["type"]),
        destination=DestinationSpec(catalog="lake", database="bench", table=table, lineage_columns=lineage),
        read_files=read_files,
    )


def publish(result: dict[str, object], out: str) -> Path:
    """Print ``result`` as JSON and write it to ``bench/results/<out>`` (an absolute ``out`` is used as it is)."""
    print(json.dumps(result, indent=2))
    path = Path(__file__).parent / "results" / out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _write_json_lines(data: pa.Table, path: Path) -> None:
    with path.open("w") as out:
        for row in data.to_pylist():
            out.write(json.dumps(row, separators=(",", ":")))
            out.write("\n")


def main() -> None:
    """Write one dataset (to look at it)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("format", choices=FORMATS)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    print(write_dataset(args.folder, args.format, files=args.files, rows=args.rows), "bytes")


if __name__ == "__main__":
    main()
