"""EmbeddedEngine streams a batch in groups inside one transaction (group size shrunk to a few rows).

Each test lowers ``streaming.GROUP_ROWS`` and the read chunk so that small files span several
groups, then checks what a multi-group batch must keep: one commit, exactly-once, totals, lineage,
write modes, schema evolution and the bad-data policies (a file bad part-way adds no rows and its
abandoned transaction leaves no files behind).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest

from autoloader_contracts.events import BatchPlanned
from autoloader_loader import streaming, tables
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import FileLoadError, TableRef
from tests.integration.test_loader_engine import planned, ref_of, write_csv

pytestmark = pytest.mark.integration

REF = TableRef("tnt_a", "lake", "db", "t")


@pytest.fixture(autouse=True)
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "GROUP_ROWS", 100)
    monkeypatch.setattr(streaming, "READ_CHUNK_ROWS", 40)




def _with_destination(batch: BatchPlanned, **changes: object) -> BatchPlanned:
    return msgspec.structs.replace(batch, destination=msgspec.structs.replace(batch.destination, **changes))


async def _data_files_on_disk(engine: EmbeddedEngine) -> int:
    info = await engine.table_info(REF)
    return len(list((Path(urlparse(info["location"]).path) / "data").rglob("*.parquet")))


async def _ids(engine: EmbeddedEngine) -> list[int]:
    return sorted(row["id"] for row in await engine.table_sample(REF, limit=10_000, columns=["id"]))


async def test_a_batch_of_several_groups_commits_once_with_its_totals(engine: EmbeddedEngine, landing: Path) -> None:
    files = [write_csv(landing, "a.csv", range(250)), write_csv(landing, "b.csv", range(250, 420))]
    batch = _with_destination(planned(landing, files), lineage_columns=True)

    result = await engine.load_batch(batch)

    assert result.rows == 420
    assert [f.rows for f in result.files] == [250, 170]
    info = await engine.table_info(REF)
    assert info["row_count"] == 420
    # Chunks of 40 rows, written once a group holds 100: groups of 120, 120, 130 (10 of a, 120 of b), 50.
    assert [s["summary"]["added-records"] for s in info["snapshots"]] == ["120", "120", "130", "50"]
    assert {s["summary"]["autoloader.batch-id"] for s in info["snapshots"]} == {batch.aggregate_id}
    assert info["snapshots"][-1]["snapshot_id"] == result.snapshot_id
    assert info["snapshots"][-1]["summary"]["autoloader.batch-rows"] == "420"
    assert await _ids(engine) == list(range(420))
    lineage = await engine.table_sample(REF, limit=10_000, columns=["id", "_source_file"])
    assert {r["id"] for r in lineage if r["_source_file"] == "b.csv"} == set(range(250, 420))

    again = await engine.load_batch(batch)
    assert again.already_committed
    assert again.rows == 420
    assert [f.rows for f in again.files] == [250, 170]
    assert again.snapshot_id == result.snapshot_id
    assert len((await engine.table_info(REF))["snapshots"]) == 4


async def test_overwrite_replaces_the_table_once_then_appends_the_later_groups(
    engine: EmbeddedEngine, landing: Path
) -> None:
    await engine.load_batch(planned(landing, [write_csv(landing, "old.csv", range(1000, 1050))]))
    batch = _with_destination(planned(landing, [write_csv(landing, "new.csv", range(300))]), write_mode="overwrite")

    result = await engine.load_batch(batch)

    assert result.rows == 300
    assert await _ids(engine) == list(range(300))
    assert (await engine.table_info(REF))["row_count"] == 300


async def test_a_later_group_with_a_new_column_evolves_the_schema_in_the_same_commit(
    engine: EmbeddedEngine, landing: Path
) -> None:
    (landing / "a.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(150)))
    (landing / "b.jsonl").write_text("".join(json.dumps({"id": i, "extra": f"x{i}"}) + "\n" for i in range(150, 300)))
    files = [ref_of(landing, "a.jsonl"), ref_of(landing, "b.jsonl")]
    result = await engine.load_batch(planned(landing, files, fmt="json"))

    assert result.rows == 300
    assert result.schema_change is not None
    assert [c.name for c in result.schema_change.change.added] == ["extra"]
    info = await engine.table_info(REF)
    assert [c["name"] for c in info["schema"]] == ["id", "extra"]
    rows = await engine.table_sample(REF, limit=1000, columns=["id", "extra"])
    assert {r["id"]: r["extra"] for r in rows if r["extra"] is not None} == {i: f"x{i}" for i in range(150, 300)}


def _ragged_late(landing: Path, name: str, rows: int) -> None:
    """A CSV whose malformed row comes after its first read block (4 MiB), so after rows were staged."""
    lines = [f"{i},name-{i:012d}" for i in range(rows)]
    path = landing / name
    path.write_text("id,name\n" + "\n".join(lines) + "\n1,2,3\n")
    assert path.stat().st_size > 5 * 1024 * 1024


async def test_skip_file_leaves_out_a_file_found_bad_part_way_and_deletes_its_staged_files(
    engine: EmbeddedEngine, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "GROUP_ROWS", 50_000)
    monkeypatch.setattr(streaming, "READ_CHUNK_ROWS", 10_000)
    _ragged_late(landing, "bad.csv", 250_000)
    files = [
        write_csv(landing, "good.csv", range(10)),
        ref_of(landing, "bad.csv"),
        write_csv(landing, "c.csv", range(10, 20)),
    ]

    result = await engine.load_batch(planned(landing, files, on_error="skip_file"))

    assert result.rows == 20
    assert [f.path for f in result.files] == ["good.csv", "c.csv"]
    [failed] = result.failed_files
    assert failed.file == "bad.csv"
    assert "malformed rows" in failed.message
    assert failed.line == 250_002
    assert await _ids(engine) == list(range(20))
    info = await engine.table_info(REF)
    assert len(info["snapshots"]) == 1
    assert await _data_files_on_disk(engine) == int(info["snapshots"][-1]["summary"]["total-data-files"])


async def test_fail_run_fails_on_a_file_bad_part_way_and_commits_nothing(
    engine: EmbeddedEngine, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "GROUP_ROWS", 50_000)
    monkeypatch.setattr(streaming, "READ_CHUNK_ROWS", 10_000)
    await engine.load_batch(planned(landing, [write_csv(landing, "first.csv", range(5))]))
    _ragged_late(landing, "bad.csv", 250_000)

    with pytest.raises(FileLoadError, match=r"bad\.csv"):
        await engine.load_batch(planned(landing, [ref_of(landing, "bad.csv")], on_error="fail_run"))

    assert await _ids(engine) == list(range(5))
    assert await _data_files_on_disk(engine) == 1


async def test_skip_file_leaves_out_a_truncated_gzip(engine: EmbeddedEngine, landing: Path) -> None:
    whole = gzip.compress(b"id,name\n" + b"".join(f"{i},n{i}\n".encode() for i in range(200)))
    (landing / "cut.csv.gz").write_bytes(whole[: len(whole) * 2 // 3])
    files = [write_csv(landing, "good.csv", range(150)), ref_of(landing, "cut.csv.gz")]

    result = await engine.load_batch(planned(landing, files, on_error="skip_file"))

    assert result.rows == 150
    assert [f.file for f in result.failed_files] == ["cut.csv.gz"]
    assert await _ids(engine) == list(range(150))


async def test_a_last_file_found_bad_before_any_of_its_rows_were_written_still_commits_the_totals(
    engine: EmbeddedEngine, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The good file fills a group exactly; the bad one's rows start the next group and are dropped
    # before it fills, leaving an empty buffer behind groups already written: the batch is written
    # again without the bad file, so its last snapshot still carries the totals.
    # The reader parses a few 4 MiB blocks ahead, so the bad row sits well past them (~30 MB in).
    monkeypatch.setattr(streaming, "GROUP_ROWS", 1_000_000)
    monkeypatch.setattr(streaming, "READ_CHUNK_ROWS", 50_000)
    _ragged_late(landing, "bad.csv", 1_200_000)
    files = [write_csv(landing, "good.csv", range(1_000_000)), ref_of(landing, "bad.csv")]
    batch = planned(landing, files, on_error="skip_file")

    result = await engine.load_batch(batch)

    assert result.rows == 1_000_000
    assert [f.file for f in result.failed_files] == ["bad.csv"]
    assert result.snapshot_id is not None
    info = await engine.table_info(REF)
    assert info["row_count"] == 1_000_000
    assert info["snapshots"][-1]["snapshot_id"] == result.snapshot_id
    assert info["snapshots"][-1]["summary"]["autoloader.batch-rows"] == "1000000"
    assert await _data_files_on_disk(engine) == int(info["snapshots"][-1]["summary"]["total-data-files"])
    again = await engine.load_batch(batch)
    assert again.already_committed
    assert again.rows == 1_000_000


async def test_a_group_write_failing_in_the_background_fails_the_batch_and_leaves_no_files(
    engine: EmbeddedEngine, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.load_batch(planned(landing, [write_csv(landing, "first.csv", range(5))]))
    real_encode = tables._dataframe_to_data_files
    calls: list[int] = []

    def failing_second_group(**kwargs: Any) -> Any:
        calls.append(len(calls))
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real_encode(**kwargs)

    # The background path encodes each group's data files with PyIceberg's helper, on a worker.
    monkeypatch.setattr(tables, "_dataframe_to_data_files", failing_second_group)
    files = [write_csv(landing, "a.csv", range(100, 350)), write_csv(landing, "b.csv", range(350, 600))]

    with pytest.raises(Exception, match="No space left on device"):
        await engine.load_batch(planned(landing, files))

    # The failure stopped the batch: no group was written after those already in flight.
    assert len(calls) <= 1 + streaming.WRITERS
    assert await _ids(engine) == list(range(5))
    assert await _data_files_on_disk(engine) == 1
