"""Golden JSON per request/reply type: the wire form of service-to-service calls never changes by accident.

Regenerate with ``UPDATE_GOLDEN=1 uv run pytest tests/contract/test_golden_rpc.py`` only for additive,
intended changes; a breaking change is a new subject version.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from autoloader_contracts.events import ColumnChange, FileRef, SchemaChange
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_contracts.rpc import (
    RPC_TYPES,
    ColumnPreview,
    MalformedRecord,
    PreviewSampleReply,
    PreviewSampleRequest,
    SelectFilesReply,
    SelectFilesRequest,
    SettleBatchReply,
    SettleBatchRequest,
    TestCatalogReply,
    TestCatalogRequest,
)

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden_rpc"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
CONFIG = IngestionConfig(
    name="orders",
    source=SourceSpec(type="s3", path="s3://bucket/orders/", file_pattern="*.csv", credential_ref="cred_0001"),
    format=FormatSpec(type="csv"),
    destination=DestinationSpec(database="sales", table="orders"),
)
FILE = FileRef(path="a.csv", size=1024, modified_at=T0, etag="e1")

EXAMPLES: list[msgspec.Struct] = [
    SelectFilesRequest(
        tenant_id="ten_golden",
        config=CONFIG,
        ingestion_id="ing_0001",
        mode="backfill",
        window_from=T0,
        window_to=datetime(2024, 6, 1, tzinfo=UTC),
        first=20,
        listing_cap=50_000,
    ),
    SelectFilesReply(
        reachable=True,
        authorised=True,
        message="connected: 3 matching files listed, 1 to take",
        files=[FILE],
        count=1,
        bytes=1024,
        listed=3,
        already_known=2,
    ),
    PreviewSampleRequest(
        tenant_id="ten_golden", config=CONFIG, files=[FILE], sealed_credentials="k1.bm9uY2U=.Y2lwaGVy"
    ),
    PreviewSampleReply(
        columns=[ColumnPreview(name="id", type="long", null_percent=0.0)],
        rows=[{"id": 1}],
        table_exists=True,
        diff=SchemaChange(added=[ColumnChange(name="note", new_type="string")]),
        action="add_columns",
        action_message="the run adds the new columns",
        malformed_count=1,
        malformed=[MalformedRecord(file="a.csv", message="expected 2 columns, got 3", line=7)],
        files_sampled=1,
        bytes_sampled=1024,
        rows_sampled=30,
        whole_files_bytes=1024,
        whole_files_rows=30,
    ),
    SettleBatchRequest(tenant_id="ten_golden", batch_id="bat_0001", reason="the loader gave the batch up"),
    SettleBatchReply(outcome="failed", already_recorded=False),
    TestCatalogRequest(tenant_id="ten_golden", catalog_id="cat_0001"),
    TestCatalogReply(
        reachable=True,
        authenticated=True,
        namespaces=["sales", "finance.ledger"],
        warehouse_found=True,
        message="connected: 2 namespaces; warehouse bucket 'lake' exists",
        round_trip_ms=42,
    ),
]


def _path(example: msgspec.Struct) -> Path:
    return GOLDEN / f"{type(example).__name__}.json"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: type(e).__name__)
def test_message_matches_its_golden(example: msgspec.Struct) -> None:
    path = _path(example)
    encoded = msgspec.json.encode(example)
    if UPDATE:
        path.write_text(json.dumps(json.loads(encoded), indent=2, sort_keys=True) + "\n")
    assert json.loads(encoded) == json.loads(path.read_text())
    assert msgspec.json.decode(path.read_bytes(), type=type(example)) == example


def test_every_rpc_type_has_an_example() -> None:
    assert sorted(type(e).__name__ for e in EXAMPLES) == sorted(t.__name__ for t in RPC_TYPES)
