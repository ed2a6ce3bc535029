"""EmbeddedEngine write path: lineage columns, partition transforms, overwrite and merge modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, PartitioningSpec, SourceSpec
from autoloader_core.ids import new_id
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import SchemaConflictError, TableRef

pytestmark = pytest.mark.integration

REF = TableRef("tnt_w", "lake", "db", "t")
MODIFIED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def write_rows(folder: Path, name: str, rows: list[tuple[int, str]], *, at: str = "2024-01-02T03:04:05") -> FileRef:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    lines = ["id,name,at", *[f"{i},{n},{at}" for i, n in rows]]
    (folder / name).write_text("\n".join(lines) + "\n")
    return FileRef(path=name, size=(folder / name).stat().st_size, modified_at=MODIFIED)


def batch(folder: Path, files: list[FileRef], *, run_id: str | None = None, **destination: Any) -> BatchPlanned:
    run = run_id or new_id("run")
    return BatchPlanned(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id=REF.tenant_id,
        aggregate_id=new_id("bat"),
        actor="service:discovery",
        correlation_id=run,
        ingestion_id="ing_w",
        run_id=run,
        batch_number=1,
        files=files,
        source=SourceSpec(type="local", path=str(folder)),
        format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="db", table="t", **destination),
    )


async def rows_of(engine: EmbeddedEngine) -> dict[int, dict[str, Any]]:
    rows = await engine.table_sample(REF, limit=10_000, columns=None)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate ids in the table"
    return by_id


def names(rows: dict[int, dict[str, Any]]) -> dict[int, str]:
    return {i: row["name"] for i, row in sorted(rows.items())}


# --- lineage -----------------------------------------------------------------------------------


async def test_lineage_columns_name_file_modification_run_and_one_commit_time(
    engine: EmbeddedEngine, landing: Path
) -> None:
    files = [write_rows(landing, "a.csv", [(1, "a")]), write_rows(landing, "sub/b.csv", [(2, "b"), (3, "c")])]
    planned = batch(landing, files)
    before = datetime.now(UTC)

    await engine.load_batch(planned)

    rows = await rows_of(engine)
    assert {i: r["_source_file"] for i, r in rows.items()} == {1: "a.csv", 2: "sub/b.csv", 3: "sub/b.csv"}
    assert {r["_source_modified_at"] for r in rows.values()} == {MODIFIED.isoformat()}
    assert {r["_ingest_run_id"] for r in rows.values()} == {planned.run_id}
    ingested = {r["_ingested_at"] for r in rows.values()}
    assert len(ingested) == 1
    at = datetime.fromisoformat(ingested.pop())
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC)
    info = await engine.table_info(REF)
    types = {c["name"]: c["type"] for c in info["schema"]}
    assert [c["name"] for c in info["schema"]] == [
        "id",
        "name",
        "at",
        "_source_file",
        "_source_modified_at",
        "_ingest_run_id",
        "_ingested_at",
    ]
    assert (types["_source_modified_at"], types["_ingested_at"], types["_source_file"]) == (
        "timestamptz",
        "timestamptz",
        "string",
    )


async def test_lineage_columns_switched_off_are_absent(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], lineage_columns=False))

    info = await engine.table_info(REF)
    assert [c["name"] for c in info["schema"]] == ["id", "name", "at"]


async def test_a_file_column_named_like_a_lineage_column_is_refused(engine: EmbeddedEngine, landing: Path) -> None:
    (landing / "a.csv").write_text("id,_source_file\n1,x\n")
    ref = FileRef(path="a.csv", size=(landing / "a.csv").stat().st_size, modified_at=MODIFIED)

    with pytest.raises(SchemaConflictError, match=r"\['_source_file'\], which are lineage column names"):
        await engine.load_batch(batch(landing, [ref]))


# --- partitioning ------------------------------------------------------------------------------


async def test_partition_transforms_are_in_the_created_tables_spec(engine: EmbeddedEngine, landing: Path) -> None:
    partitioning = PartitioningSpec(enabled=True, columns=["day(at)", "bucket(4, id)", "truncate(2, name)"])
    files = [write_rows(landing, "a.csv", [(1, "aa"), (2, "bb")], at="2024-01-02T03:04:05")]

    result = await engine.load_batch(batch(landing, files, partitioning=partitioning))

    assert result.rows == 2
    table = engine._catalog(REF).load_table(("db", "t"))
    schema = table.schema()
    spec = [(schema.find_column_name(f.source_id), str(f.transform), f.name) for f in table.spec().fields]
    assert spec == [
        ("at", "day", "at_day"),
        ("id", "bucket[4]", "id_bucket"),
        ("name", "truncate[2]", "name_trunc"),
    ]
    assert sorted(names(await rows_of(engine)).items()) == [(1, "aa"), (2, "bb")]


async def test_identity_partition_and_a_repeated_column(engine: EmbeddedEngine, landing: Path) -> None:
    repeated = PartitioningSpec(enabled=True, columns=["name", "truncate(2, name)"])
    with pytest.raises(SchemaConflictError, match=r"uses columns \['name'\] more than once"):
        await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], partitioning=repeated))

    await engine.load_batch(
        batch(
            landing,
            [write_rows(landing, "a.csv", [(1, "a")])],
            partitioning=PartitioningSpec(enabled=True, columns=["name"]),
        )
    )

    table = engine._catalog(REF).load_table(("db", "t"))
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("name", "identity")]


async def test_partition_on_a_missing_column_names_it(engine: EmbeddedEngine, landing: Path) -> None:
    partitioning = PartitioningSpec(enabled=True, columns=["month(created)"])

    with pytest.raises(SchemaConflictError, match=r"partition column 'created' \(month\(created\)\) is not in"):
        await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], partitioning=partitioning))


async def test_partition_transform_on_an_incompatible_type_names_the_column(
    engine: EmbeddedEngine, landing: Path
) -> None:
    partitioning = PartitioningSpec(enabled=True, columns=["hour(name)"])

    with pytest.raises(SchemaConflictError, match=r"partition hour\(name\): column 'name' is string"):
        await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], partitioning=partitioning))


async def test_writing_into_a_table_partitioned_otherwise_is_refused(engine: EmbeddedEngine, landing: Path) -> None:
    first = PartitioningSpec(enabled=True, columns=["year(at)"])
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], partitioning=first))
    other = PartitioningSpec(enabled=True, columns=["month(at)"])

    with pytest.raises(SchemaConflictError, match=r"partitioned by year\(at\) but .* asks for month\(at\)"):
        await engine.load_batch(batch(landing, [write_rows(landing, "b.csv", [(2, "b")])], partitioning=other))
    assert len(await rows_of(engine)) == 1


# --- overwrite ---------------------------------------------------------------------------------


async def test_overwrite_replaces_the_table_with_each_runs_files(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(
        batch(landing, [write_rows(landing, "r1.csv", [(1, "a"), (2, "b")])], write_mode="overwrite")
    )
    run = new_id("run")

    second = await engine.load_batch(
        batch(landing, [write_rows(landing, "r2a.csv", [(10, "x")])], run_id=run, write_mode="overwrite")
    )
    assert names(await rows_of(engine)) == {10: "x"}
    third = await engine.load_batch(
        batch(landing, [write_rows(landing, "r2b.csv", [(11, "y")])], run_id=run, write_mode="overwrite")
    )

    assert names(await rows_of(engine)) == {10: "x", 11: "y"}
    info = await engine.table_info(REF)
    assert info["row_count"] == 2
    by_id = {s["snapshot_id"]: s for s in info["snapshots"]}
    assert by_id[second.snapshot_id]["summary"]["autoloader.batch-id"]
    assert by_id[third.snapshot_id]["summary"]["operation"] == "append"


async def test_redelivered_overwrite_batch_is_not_applied_again(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_rows(landing, "r1.csv", [(1, "a")])], write_mode="overwrite"))
    planned = batch(landing, [write_rows(landing, "r2.csv", [(2, "b")])], write_mode="overwrite")
    first = await engine.load_batch(planned)

    again = await engine.load_batch(planned)

    assert again.already_committed
    assert again.snapshot_id == first.snapshot_id
    assert names(await rows_of(engine)) == {2: "b"}


# --- merge -------------------------------------------------------------------------------------


async def test_merge_updates_existing_keys_and_inserts_new_ones(engine: EmbeddedEngine, landing: Path) -> None:
    merge = {"write_mode": "merge", "merge_keys": ["id"]}
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a"), (2, "b"), (3, "c")])], **merge))

    await engine.load_batch(batch(landing, [write_rows(landing, "b.csv", [(2, "B"), (4, "D")])], **merge))

    rows = await rows_of(engine)
    assert names(rows) == {1: "a", 2: "B", 3: "c", 4: "D"}
    assert {i: r["_source_file"] for i, r in rows.items()} == {1: "a.csv", 2: "b.csv", 3: "a.csv", 4: "b.csv"}
    assert (await engine.table_info(REF))["row_count"] == 4


async def test_merge_last_file_then_last_row_wins_within_a_batch(engine: EmbeddedEngine, landing: Path) -> None:
    files = [
        write_rows(landing, "1.csv", [(1, "first"), (2, "only")]),
        write_rows(landing, "2.csv", [(1, "second"), (3, "row1"), (3, "row2")]),
    ]

    await engine.load_batch(batch(landing, files, write_mode="merge", merge_keys=["id"]))

    assert names(await rows_of(engine)) == {1: "second", 2: "only", 3: "row2"}


async def test_merge_on_two_keys(engine: EmbeddedEngine, landing: Path) -> None:
    merge = {"write_mode": "merge", "merge_keys": ["id", "name"]}
    await engine.load_batch(
        batch(landing, [write_rows(landing, "a.csv", [(1, "a"), (2, "b")], at="2024-01-01")], **merge)
    )

    await engine.load_batch(batch(landing, [write_rows(landing, "b.csv", [(1, "a")], at="2025-01-01")], **merge))

    rows = await engine.table_sample(REF, limit=100, columns=["id", "name", "at"])
    assert sorted((r["id"], r["name"], r["at"][:4]) for r in rows) == [(1, "a", "2025"), (2, "b", "2024")]


async def test_merge_on_two_keys_keeps_rows_that_share_only_one_key(engine: EmbeddedEngine, landing: Path) -> None:
    # The per-column IN filter also catches (1, "b") and (2, "a"): they must be written back unchanged.
    merge = {"write_mode": "merge", "merge_keys": ["id", "name"]}
    first = [(1, "a"), (1, "b"), (2, "a")]
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", first, at="2024-01-01")], **merge))

    second = [(1, "a"), (3, "c"), (2, "b")]
    await engine.load_batch(batch(landing, [write_rows(landing, "b.csv", second, at="2025-01-01")], **merge))

    rows = await engine.table_sample(REF, limit=100, columns=["id", "name", "at"])
    assert sorted((r["id"], r["name"], r["at"][:4]) for r in rows) == [
        (1, "a", "2025"),
        (1, "b", "2024"),
        (2, "a", "2024"),
        (2, "b", "2025"),
        (3, "c", "2025"),
    ]


async def test_merge_on_two_keys_of_thousands_of_rows(engine: EmbeddedEngine, landing: Path) -> None:
    merge = {"write_mode": "merge", "merge_keys": ["id", "name"]}
    old = [(i, f"n{i % 7}") for i in range(5000)]
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", old, at="2024-01-01")], **merge))
    new = [(i, f"n{i % 7}") for i in range(2500, 7500)]
    await engine.load_batch(batch(landing, [write_rows(landing, "b.csv", new, at="2025-01-01")], **merge))

    rows = await engine.table_sample(REF, limit=10_000, columns=["id", "at"])
    years = {r["id"]: r["at"][:4] for r in rows}
    assert len(rows) == 7500
    assert {years[i] for i in range(2500)} == {"2024"}
    assert {years[i] for i in range(2500, 7500)} == {"2025"}


async def test_redelivered_merge_batch_is_not_applied_twice(engine: EmbeddedEngine, landing: Path) -> None:
    merge = {"write_mode": "merge", "merge_keys": ["id"]}
    await engine.load_batch(batch(landing, [write_rows(landing, "a.csv", [(1, "a"), (2, "b")])], **merge))
    planned = batch(landing, [write_rows(landing, "b.csv", [(2, "B"), (3, "C")])], **merge)
    first = await engine.load_batch(planned)
    snapshots = len((await engine.table_info(REF))["snapshots"])

    again = await engine.load_batch(planned)

    assert again.already_committed
    assert again.snapshot_id == first.snapshot_id
    info = await engine.table_info(REF)
    assert len(info["snapshots"]) == snapshots
    assert names(await rows_of(engine)) == {1: "a", 2: "B", 3: "C"}


async def test_merge_key_missing_from_the_data_names_it(engine: EmbeddedEngine, landing: Path) -> None:
    planned = batch(landing, [write_rows(landing, "a.csv", [(1, "a")])], write_mode="merge", merge_keys=["sku"])

    with pytest.raises(SchemaConflictError, match=r"merge keys \['sku'\] are not columns of the data"):
        await engine.load_batch(planned)
