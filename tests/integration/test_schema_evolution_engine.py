"""Schema evolution modes of the EmbeddedEngine on a real SqlCatalog (add_new_columns, rescue, ignore, fail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SchemaSpec, SourceSpec
from autoloader_core.ids import new_id
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import SchemaChangeError, SchemaConflictError, TableRef

pytestmark = pytest.mark.integration

BASE = {"id": 1, "name": "a"}




def write_jsonl(folder: Path, name: str, rows: list[dict[str, object]]) -> FileRef:
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return FileRef(path=name, size=path.stat().st_size, modified_at=datetime.now(UTC))


def batch(folder: Path, files: list[FileRef], *, mode: str, table: str, **extra: object) -> BatchPlanned:
    run_id = new_id("run")
    planned = BatchPlanned(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id="tnt_evo",
        aggregate_id=new_id("bat"),
        actor="service:discovery",
        correlation_id=run_id,
        ingestion_id="ing_evo",
        run_id=run_id,
        batch_number=1,
        files=files,
        source=SourceSpec(type="local", path=str(folder)),
        format=FormatSpec(type="json", schema=SchemaSpec(evolution_mode=mode)),
        destination=DestinationSpec(catalog="lake", database="evo", table=table),
    )
    return msgspec.structs.replace(planned, **extra) if extra else planned


def ref(table: str) -> TableRef:
    return TableRef("tnt_evo", "lake", "evo", table)


LINEAGE = {"_source_file", "_source_modified_at", "_ingest_run_id", "_ingested_at"}


async def sample(engine: EmbeddedEngine, table: str) -> list[dict[str, object]]:
    """The table's rows without the lineage columns (on by default; not this module's subject)."""
    rows = await engine.table_sample(ref(table), limit=100, columns=None)
    return [{k: v for k, v in row.items() if k not in LINEAGE} for row in rows]


async def rows_by_id(engine: EmbeddedEngine, table: str) -> dict[object, dict[str, object]]:
    return {row["id"]: row for row in await sample(engine, table)}


async def test_add_new_columns_adds_them_and_records_the_change(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="add_new_columns", table="a"))
    newer = write_jsonl(landing, "b.json", [{"id": 2, "city": "Oslo"}])

    result = await engine.load_batch(batch(landing, [newer], mode="add_new_columns", table="a"))

    rows = await rows_by_id(engine, "a")
    assert rows[1] == {"id": 1, "name": "a", "city": None}
    assert rows[2] == {"id": 2, "name": None, "city": "Oslo"}
    assert result.schema_change is not None
    assert result.schema_change.resolution == "auto_applied"
    assert [(c.name, c.new_type) for c in result.schema_change.change.added] == [("city", "string")]
    assert [c.name for c in result.schema_change.change.removed] == ["name"]


async def test_add_new_columns_fails_on_a_type_change_naming_the_column(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="add_new_columns", table="c"))
    text_id = write_jsonl(landing, "b.json", [{"id": "x-1", "name": "b"}])

    with pytest.raises(SchemaConflictError, match="'id'"):
        await engine.load_batch(batch(landing, [text_id], mode="add_new_columns", table="c"))


async def test_rescue_keeps_the_schema_and_puts_extra_fields_into_rescued_data(
    engine: EmbeddedEngine, landing: Path
) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="rescue", table="r"))
    extra = write_jsonl(landing, "b.json", [{"id": 2, "name": "b", "city": "Oslo", "zip": 150}, {"id": 3, "name": "c"}])

    result = await engine.load_batch(batch(landing, [extra], mode="rescue", table="r"))

    rows = await rows_by_id(engine, "r")
    assert set(rows[2]) == {"id", "name", "_rescued_data"}
    assert json.loads(str(rows[2]["_rescued_data"])) == {"city": "Oslo", "zip": 150}
    assert rows[3]["_rescued_data"] is None
    assert rows[1]["_rescued_data"] is None
    assert result.schema_change is not None
    assert result.schema_change.resolution == "rescued"


async def test_rescue_moves_values_that_do_not_fit_the_column(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="rescue", table="v"))
    mixed = write_jsonl(landing, "b.json", [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}])
    texts = write_jsonl(landing, "c.json", [{"id": "x-4", "name": "d"}])

    await engine.load_batch(batch(landing, [mixed], mode="rescue", table="v"))
    await engine.load_batch(batch(landing, [texts], mode="rescue", table="v"))

    rows = await sample(engine, "v")
    rescued = [row for row in rows if row["_rescued_data"] is not None]
    assert [(r["id"], r["name"], json.loads(str(r["_rescued_data"]))) for r in rescued] == [(None, "d", {"id": "x-4"})]
    assert len(rows) == 4


async def test_ignore_drops_unknown_fields(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="ignore", table="i"))
    extra = write_jsonl(landing, "b.json", [{"id": 2, "name": "b", "city": "Oslo"}])

    result = await engine.load_batch(batch(landing, [extra], mode="ignore", table="i"))

    info = await engine.table_info(ref("i"))
    assert [c["name"] for c in info["schema"] if c["name"] not in LINEAGE] == ["id", "name"]
    assert (await rows_by_id(engine, "i"))[2] == {"id": 2, "name": "b"}
    assert result.schema_change is not None
    assert result.schema_change.resolution == "ignored_fields"


async def test_fail_rejects_any_new_column_with_the_diff_until_accepted(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="fail", table="f"))
    extra = write_jsonl(landing, "b.json", [{"id": 2, "name": "b", "city": "Oslo", "zip": 150}])

    with pytest.raises(SchemaChangeError, match="city") as failure:
        await engine.load_batch(batch(landing, [extra], mode="fail", table="f"))
    accepted = {c.name: str(c.new_type) for c in failure.value.change.added}
    result = await engine.load_batch(batch(landing, [extra], mode="fail", table="f", accepted_columns=accepted))

    assert failure.value.error_type == "schema_change"
    assert accepted == {"city": "string", "zip": "int64"}
    assert (await rows_by_id(engine, "f"))[2] == {"id": 2, "name": "b", "city": "Oslo", "zip": 150}
    assert result.rows == 1
    assert result.schema_change is None  # the resolved version records it; no new (pending) version


async def test_ignored_columns_of_a_resolution_are_dropped_in_fail_mode(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="fail", table="g"))
    extra = write_jsonl(landing, "b.json", [{"id": 2, "name": "b", "city": "Oslo"}])

    result = await engine.load_batch(batch(landing, [extra], mode="fail", table="g", ignored_columns=["city"]))

    assert (await rows_by_id(engine, "g"))[2] == {"id": 2, "name": "b"}
    assert result.schema_change is None


async def test_missing_columns_and_narrower_types_are_no_schema_change(engine: EmbeddedEngine, landing: Path) -> None:
    await engine.load_batch(batch(landing, [write_jsonl(landing, "a.json", [BASE])], mode="fail", table="n"))
    fewer = write_jsonl(landing, "b.json", [{"id": 2}])

    result = await engine.load_batch(batch(landing, [fewer], mode="fail", table="n"))

    assert result.schema_change is None
    assert (await rows_by_id(engine, "n"))[2] == {"id": 2, "name": None}
