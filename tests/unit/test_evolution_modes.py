"""``evolution.apply`` on a table held in memory (an uncommitted transaction: no catalog, no files)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pyiceberg.io import load_file_io
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

from autoloader_contracts.events import BatchPlanned
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SchemaSpec, SourceSpec
from autoloader_loader import evolution, tables
from autoloader_loader.engine import SchemaChangeError

pytestmark = pytest.mark.unit

WIDER = pa.table({"id": [1], "name": ["a"], "city": ["Oslo"]})


def staged_table() -> tables.StagedTable:
    """A table of columns id (long) and name (string), seen through a transaction never committed."""
    arrow = pa.schema([("id", pa.int64()), ("name", pa.string())])
    schema = assign_fresh_schema_ids(tables.iceberg_schema_of(tables.all_optional(arrow)))
    metadata = new_table_metadata(schema, UNPARTITIONED_PARTITION_SPEC, UNSORTED_SORT_ORDER, "memory://t", {})
    table = Table(("e", "t"), metadata=metadata, metadata_location="memory://t/m.json", io=load_file_io(), catalog=None)
    return tables.StagedTable(table.transaction())


def planned(mode: str, **extra: object) -> BatchPlanned:
    return BatchPlanned(
        event_id="evt_1",
        occurred_at=datetime.now(UTC),
        tenant_id="tnt_1",
        aggregate_id="bat_1",
        actor="service:discovery",
        correlation_id="run_1",
        ingestion_id="ing_1",
        run_id="run_1",
        batch_number=1,
        files=[],
        source=SourceSpec(type="local", path="/in"),
        format=FormatSpec(type="json", schema=SchemaSpec(evolution_mode=mode)),
        destination=DestinationSpec(database="e", table="t"),
        **extra,
    )


def test_add_new_columns_reports_the_change_it_applied() -> None:
    table, aligned, detected = evolution.apply(staged_table(), WIDER, planned("add_new_columns"))

    assert "city" in {f.name for f in table.schema().fields}
    assert aligned.column("city").to_pylist() == ["Oslo"]
    assert detected is not None
    assert (detected.resolution, [c.name for c in detected.change.added]) == ("auto_applied", ["city"])


def test_fail_mode_refuses_a_change_no_resolution_accepted() -> None:
    with pytest.raises(SchemaChangeError, match="city") as failure:
        evolution.apply(staged_table(), WIDER, planned("fail", accepted_columns={"zip": "int64"}))

    assert [c.name for c in failure.value.change.added] == ["city"]


def test_fail_mode_loads_an_accepted_change_without_detecting_a_new_version() -> None:
    # The resolved version already records this change: reporting it again would append a new
    # pending version and put the ingestion back in error right after the resolution.
    table, aligned, detected = evolution.apply(
        staged_table(), WIDER, planned("fail", accepted_columns={"city": "string"})
    )

    assert detected is None
    assert "city" in {f.name for f in table.schema().fields}
    assert aligned.column("city").to_pylist() == ["Oslo"]
