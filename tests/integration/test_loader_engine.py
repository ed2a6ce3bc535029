"""The engine behaviour suite, once per engine: embedded, and Spark Connect with the ``staged`` strategy.

Both write a real SqlCatalog on Postgres with a warehouse under tmp_path; the Spark variant sends
every batch through the session's local Spark Connect server.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, ErrorsSpec, FormatSpec, SourceSpec
from autoloader_core.errors import NotFoundError, ValidationFailed
from autoloader_core.ids import new_id
from autoloader_core.settings import Settings
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import FileLoadError, SchemaConflictError, TableRef
from autoloader_loader.routing import EngineRouter

pytestmark = pytest.mark.integration

Engine = EmbeddedEngine | EngineRouter


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """Every test here runs on both engines."""
    return any_engine



def write_csv(folder: Path, name: str, ids: range, *, extra: str | None = None) -> FileRef:
    header = "id,name" + (f",{extra}" if extra else "")
    lines = [f"{i},n{i}" + (f",{i * 10}" if extra else "") for i in ids]
    path = folder / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return ref_of(folder, name)


def ref_of(folder: Path, name: str) -> FileRef:
    path = folder / name
    return FileRef(path=name, size=path.stat().st_size, modified_at=datetime.now(UTC))


def planned(
    folder: Path,
    files: list[FileRef],
    *,
    fmt: str = "csv",
    tenant: str = "tnt_a",
    table: str = "t",
    batch_id: str | None = None,
    on_error: str = "skip_file",
) -> BatchPlanned:
    run_id = new_id("run")
    return BatchPlanned(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id=tenant,
        aggregate_id=batch_id or new_id("bat"),
        actor="service:discovery",
        correlation_id=run_id,
        ingestion_id="ing_test",
        run_id=run_id,
        batch_number=1,
        files=files,
        source=SourceSpec(type="local", path=str(folder)),
        format=FormatSpec(type=fmt),
        # Lineage columns are covered by test_loader_write_modes.py; here the files' own columns only.
        destination=DestinationSpec(catalog="lake", database="db", table=table, lineage_columns=False),
        errors=ErrorsSpec(on_error=on_error),
    )


async def test_csv_batch_creates_the_table_with_snapshot_properties(
    engine: Engine, landing: Path
) -> None:
    files = [write_csv(landing, f"f{i}.csv", range(i * 100, (i + 1) * 100)) for i in range(3)]
    batch = planned(landing, files)
    result = await engine.load_batch(batch)
    assert result.rows == 300
    assert [f.rows for f in result.files] == [100, 100, 100]
    assert result.bytes == sum(f.size for f in files)
    assert result.table == "lake.db.t"
    assert not result.already_committed
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "t"))
    assert info["row_count"] == 300
    assert [c["name"] for c in info["schema"]] == ["id", "name"]
    assert info["schema"][0]["type"] == "long"
    summary = info["snapshots"][-1]["summary"]
    assert summary["autoloader.batch-id"] == batch.aggregate_id
    assert summary["autoloader.run-id"] == batch.run_id
    assert summary["autoloader.ingestion-id"] == "ing_test"
    assert info["snapshots"][-1]["snapshot_id"] == result.snapshot_id
    assert "/tnt_a/lake/" in info["location"]


async def test_json_and_parquet_batches_load(engine: Engine, landing: Path) -> None:
    (landing / "a.jsonl.gz").write_bytes(
        gzip.compress(
            "\n".join(
                json.dumps({"id": i, "tags": ["x"], "at": "2024-01-01T00:00:00"}) for i in range(50)
            ).encode()
        )
    )
    json_result = await engine.load_batch(
        planned(landing, [ref_of(landing, "a.jsonl.gz")], fmt="json", table="j")
    )
    assert json_result.rows == 50
    stamps = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 20, pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"id": pa.array(range(20), pa.uint32()), "at": stamps}), landing / "p.parquet")
    parquet_result = await engine.load_batch(
        planned(landing, [ref_of(landing, "p.parquet")], fmt="parquet", table="p")
    )
    assert parquet_result.rows == 20
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "p"))
    assert {c["name"]: c["type"] for c in info["schema"]} == {"id": "long", "at": "timestamptz"}
    rows = await engine.table_sample(TableRef("tnt_a", "lake", "db", "p"), limit=5, columns=["at"])
    assert rows[0] == {"at": "2024-01-01T00:00:00+00:00"}


async def test_the_same_batch_twice_writes_once(engine: Engine, landing: Path) -> None:
    batch = planned(landing, [write_csv(landing, "once.csv", range(10))])
    first = await engine.load_batch(batch)
    again = await engine.load_batch(batch)
    assert again.already_committed
    assert again.snapshot_id == first.snapshot_id
    assert again.rows == 10
    assert [f.rows for f in again.files] == [10]
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "t"))
    assert info["row_count"] == 10
    assert len(info["snapshots"]) == 1


async def test_two_engines_racing_on_one_batch_commit_it_once(
    engine: Engine, database_url: str, tmp_path: Path, landing: Path
) -> None:
    other = EmbeddedEngine(
        Settings(
            database_url=database_url, local_roots=(landing,), warehouse=(tmp_path / "warehouse").as_uri()
        )
    )
    try:
        await engine.load_batch(planned(landing, [write_csv(landing, "seed.csv", range(5))]))
        batch = planned(landing, [write_csv(landing, "race.csv", range(100, 200))])
        results = await asyncio.gather(engine.load_batch(batch), other.load_batch(batch))
    finally:
        await other.close()
    assert len({r.snapshot_id for r in results}) == 1
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "t"))
    assert info["row_count"] == 105
    batch_ids = [s["summary"].get("autoloader.batch-id") for s in info["snapshots"]]
    assert batch_ids.count(batch.aggregate_id) == 1


async def test_new_columns_evolve_the_table(engine: Engine, landing: Path) -> None:
    await engine.load_batch(planned(landing, [write_csv(landing, "v1.csv", range(3))]))
    await engine.load_batch(planned(landing, [write_csv(landing, "v2.csv", range(3, 5), extra="score")]))
    ref = TableRef("tnt_a", "lake", "db", "t")
    info = await engine.table_info(ref)
    assert [c["name"] for c in info["schema"]] == ["id", "name", "score"]
    assert info["row_count"] == 5
    rows = await engine.table_sample(ref, limit=100, columns=["id", "score"])
    assert sorted((r["id"], r["score"]) for r in rows) == [(0, None), (1, None), (2, None), (3, 30), (4, 40)]


async def test_int_column_widens_but_text_into_a_number_column_fails(
    engine: Engine, landing: Path
) -> None:
    pq.write_table(pa.table({"n": pa.array([1], pa.int32())}), landing / "i.parquet")
    pq.write_table(pa.table({"n": pa.array([2**40], pa.int64())}), landing / "l.parquet")
    (landing / "s.csv").write_text("n\nabc\n")
    await engine.load_batch(planned(landing, [ref_of(landing, "i.parquet")], fmt="parquet", table="w"))
    await engine.load_batch(planned(landing, [ref_of(landing, "l.parquet")], fmt="parquet", table="w"))
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "w"))
    assert info["schema"][0]["type"] == "long"
    assert info["row_count"] == 2
    with pytest.raises(SchemaConflictError, match="column 'n' is long in the table but string"):
        await engine.load_batch(planned(landing, [ref_of(landing, "s.csv")], table="w"))


async def test_corrupt_and_escaping_files_fail_the_batch_clearly(
    engine: Engine, landing: Path, tmp_path: Path
) -> None:
    good = write_csv(landing, "good.csv", range(3))
    (landing / "bad.parquet").write_bytes(b"PAR1 definitely not parquet")
    with pytest.raises(FileLoadError, match=r"^bad.parquet: cannot read as parquet") as caught:
        await engine.load_batch(planned(landing, [ref_of(landing, "bad.parquet")], fmt="parquet", on_error="fail_run"))
    assert caught.value.file == "bad.parquet"
    (tmp_path / "secret.csv").write_text("id\n1\n")
    (landing / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(FileLoadError, match="outside the allowed local roots"):
        await engine.load_batch(planned(landing, [good, ref_of(landing, "link.csv")]))
    with pytest.raises(NotFoundError, match=r"table lake.db.t does not exist yet: run the ingestion first"):
        await engine.table_info(TableRef("tnt_a", "lake", "db", "t"))


async def test_skip_file_commits_the_good_files_and_reports_the_bad_ones(engine: Engine, landing: Path) -> None:
    good = write_csv(landing, "good.csv", range(3))
    (landing / "empty.csv").write_bytes(b"")
    (landing / "ragged.csv").write_text("id\n1\n2,3\n")

    result = await engine.load_batch(
        planned(landing, [good, ref_of(landing, "empty.csv"), ref_of(landing, "ragged.csv")], table="skips")
    )

    assert (result.rows, [f.path for f in result.files]) == (3, ["good.csv"])
    assert [(e.file, e.error_type, e.line) for e in result.failed_files] == [
        ("empty.csv", "file_error", None),
        ("ragged.csv", "file_error", 3),
    ]
    assert result.snapshot_id is not None
    only_bad = await engine.load_batch(planned(landing, [ref_of(landing, "empty.csv")], table="skips"))
    assert (only_bad.rows, only_bad.files, only_bad.snapshot_id) == (0, [], None)
    assert [e.file for e in only_bad.failed_files] == ["empty.csv"]


async def test_tenants_never_share_tables(engine: Engine, landing: Path) -> None:
    await engine.load_batch(planned(landing, [write_csv(landing, "a.csv", range(7))], tenant="tnt_one"))
    await engine.load_batch(planned(landing, [write_csv(landing, "b.csv", range(2))], tenant="tnt_two"))
    one = await engine.table_info(TableRef("tnt_one", "lake", "db", "t"))
    two = await engine.table_info(TableRef("tnt_two", "lake", "db", "t"))
    assert (one["row_count"], two["row_count"]) == (7, 2)
    assert one["location"] != two["location"]


async def test_sample_rejects_unknown_columns_and_drop_removes_the_table(
    engine: Engine, landing: Path
) -> None:
    await engine.load_batch(planned(landing, [write_csv(landing, "a.csv", range(4))]))
    ref = TableRef("tnt_a", "lake", "db", "t")
    with pytest.raises(ValidationFailed, match="unknown column 'nope'"):
        await engine.table_sample(ref, limit=10, columns=["nope"])
    assert len(await engine.table_sample(ref, limit=2, columns=None)) == 2
    assert await engine.drop_table(ref) is True
    assert await engine.drop_table(ref) is False
    with pytest.raises(NotFoundError):
        await engine.table_info(ref)


HOSTILE_HEADERS = ["id", "a; DROP TABLE x", "../../x", "`weird`", '"q"', "x`; DROP TABLE t; --"]


def _files_outside(root: Path, inside: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and inside not in p.parents}


async def test_hostile_column_names_from_a_file_load_as_quoted_names_and_touch_nothing_else(
    engine: Engine, landing: Path, tmp_path: Path
) -> None:
    other = await engine.load_batch(planned(landing, [write_csv(landing, "other.csv", range(5))], table="other"))
    header = ",".join('"' + name.replace('"', '""') + '"' for name in HOSTILE_HEADERS)
    (landing / "hostile.csv").write_text(f"{header}\n1,a,b,c,d,e\n2,f,g,h,i,j\n")
    warehouse = tmp_path / "warehouse"
    before = _files_outside(tmp_path, warehouse)

    result = await engine.load_batch(planned(landing, [ref_of(landing, "hostile.csv")], table="hostile"))

    assert result.rows == 2
    info = await engine.table_info(TableRef("tnt_a", "lake", "db", "hostile"))
    assert [c["name"] for c in info["schema"]] == HOSTILE_HEADERS
    rows = await engine.table_sample(TableRef("tnt_a", "lake", "db", "hostile"), limit=5, columns=HOSTILE_HEADERS[1:])
    assert sorted(row["`weird`"] for row in rows) == ["c", "h"]
    assert sorted(row["x`; DROP TABLE t; --"] for row in rows) == ["e", "j"]
    # No file appeared outside the warehouse in this test's folder (a column named ../../x is never
    # a path), none named x anywhere around it, and the other table is untouched. (The session's
    # Spark server writes its own files beside this folder, so only this folder is compared whole.)
    assert _files_outside(tmp_path, warehouse) - before == set()
    assert [p for p in tmp_path.parent.rglob("x") if p.is_file()] == []
    untouched = await engine.table_info(TableRef("tnt_a", "lake", "db", "other"))
    assert untouched["row_count"] == other.rows == 5
    assert untouched["snapshots"][-1]["snapshot_id"] == other.snapshot_id


@pytest.mark.parametrize("with_bad_file", [False, True], ids=["parsed-together", "one-bad-file"])
async def test_many_small_json_files_keep_each_files_rows_and_the_bad_file_is_left_out(
    engine: Engine, landing: Path, with_bad_file: bool
) -> None:
    # Small JSON-lines files are parsed together; every row must still name its own file, and
    # a malformed file among them must be reported (with its line) as if read alone.
    bad = 17 if with_bad_file else None
    refs = []
    for n in range(30):
        rows = [json.dumps({"id": n * 10 + i, "file_no": n}) for i in range(n % 4 + 1)]
        if n == bad:
            rows.insert(1, '{"id": broken')
        (landing / f"s{n:02d}.jsonl").write_text("\n".join(rows) + "\n")
        refs.append(ref_of(landing, f"s{n:02d}.jsonl"))
    batch = planned(landing, refs, fmt="json", table="small")
    batch = msgspec.structs.replace(
        batch, destination=msgspec.structs.replace(batch.destination, lineage_columns=True)
    )

    result = await engine.load_batch(batch)

    expected = {n: n % 4 + 1 for n in range(30) if n != bad}
    assert [(f.path, f.rows) for f in result.files] == [(f"s{n:02d}.jsonl", c) for n, c in expected.items()]
    assert [(e.file, e.line) for e in result.failed_files] == ([("s17.jsonl", 2)] if with_bad_file else [])
    rows = await engine.table_sample(
        TableRef("tnt_a", "lake", "db", "small"), limit=1000, columns=["file_no", "_source_file"]
    )
    assert len(rows) == sum(expected.values())
    assert all(r["_source_file"] == f"s{r['file_no']:02d}.jsonl" for r in rows)
