"""Golden JSON per event type and version: the stored form of an event never changes by accident.

A failing comparison means the wire format changed. If the change is additive and intended,
regenerate with ``UPDATE_GOLDEN=1 uv run pytest tests/contract/test_golden_events.py`` and commit;
if it is breaking, add a new ``.v2`` type plus an upcaster instead and keep the old golden.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoloader_contracts.catalog import CatalogConfig
from autoloader_contracts.cluster import ClusterConfig, ClusterPricing
from autoloader_contracts.codec import decode, encode
from autoloader_contracts.events import (
    EVENT_TYPES,
    AlertCleared,
    AlertRaised,
    BatchFailed,
    BatchLoaded,
    BatchPlanned,
    CatalogRegistered,
    CatalogRemoved,
    CatalogUpdated,
    ClusterRegistered,
    ClusterRemoved,
    ClusterUpdated,
    ColumnChange,
    Event,
    FileRef,
    FileResult,
    FilesDiscovered,
    FilesMarkedSeen,
    FilesSkipped,
    IngestionActivated,
    IngestionCreated,
    IngestionDeleted,
    IngestionPaused,
    IngestionResumed,
    IngestionUpdated,
    ProcessedFilesCleared,
    RunCompleted,
    RunCost,
    RunError,
    RunMetrics,
    RunOperation,
    RunRequested,
    RunSkipped,
    RunStarted,
    SchemaChange,
    SchemaChangeDetected,
    SchemaChangeResolved,
    TableDropped,
    TableDropRequested,
)
from autoloader_contracts.ingestion import (
    DestinationSpec,
    EngineSpec,
    FormatSpec,
    IngestionConfig,
    ScheduleSpec,
    SourceSpec,
)

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

T0 = datetime(2024, 5, 1, 2, 0, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 2, 0, 3, 250000, tzinfo=UTC)
TENANT = "ten_golden"
INGESTION = "ing_0001"
RUN = "run_0001"
BATCH = "bat_0001"
CLUSTER = "clu_0001"
CATALOG = "cat_0001"

SOURCE = SourceSpec(type="local", path="/data/landing/orders", file_pattern="**/*.csv")
FORMAT = FormatSpec(type="csv", options={"delimiter": ","})
DESTINATION = DestinationSpec(catalog="lake", database="sales", table="orders")
CONFIG = IngestionConfig(
    name="orders",
    source=SOURCE,
    format=FORMAT,
    destination=DESTINATION,
    schedule=ScheduleSpec(frequency="daily", time="02:00", timezone="Europe/Berlin"),
    engine=EngineSpec(read_files="cluster"),
)
FILES = [
    FileRef(path="/data/landing/orders/a.csv", size=1024, modified_at=T0, etag="e1"),
    FileRef(path="/data/landing/orders/b.csv", size=2048, modified_at=T0),
]


def _envelope(aggregate_id: str, number: int) -> dict[str, object]:
    return {
        "event_id": f"evt_{number:04d}",
        "occurred_at": T1,
        "tenant_id": TENANT,
        "aggregate_id": aggregate_id,
        "actor": "key:key_0001" if aggregate_id == INGESTION else "service:discovery",
        "correlation_id": "cor_0001",
        "causation_id": None if number == 1 else f"evt_{number - 1:04d}",
    }


def _ingestion(number: int) -> dict[str, object]:
    return _envelope(INGESTION, number)


def _run(number: int) -> dict[str, object]:
    return {**_envelope(RUN, number), "ingestion_id": INGESTION}


def _batch(number: int) -> dict[str, object]:
    return {**_envelope(BATCH, number), "ingestion_id": INGESTION, "run_id": RUN}


SCHEMA_CHANGE = SchemaChange(
    added=[ColumnChange(name="city", new_type="string")],
    removed=[ColumnChange(name="legacy", old_type="bool")],
    changed=[ColumnChange(name="amount", old_type="int32", new_type="int64")],
)

CLUSTER_CONFIG = ClusterConfig(
    name="prod-spark",
    kind="spark_connect",
    url="sc://spark.internal:15002",
    catalog="lake",
    commit_strategy="staged",
    pricing=ClusterPricing(nodes=4, units_per_node_hour=0.75, price_per_unit=0.55, currency="EUR"),
    options={"spark.sql.shuffle.partitions": "8"},
    token_ref="cred_0001",
)


def _cluster(number: int) -> dict[str, object]:
    return {**_envelope(CLUSTER, number), "actor": "key:key_0001"}


CATALOG_CONFIG = CatalogConfig(
    name="rest_catalog",
    type="rest",
    uri="https://catalog.internal/api/catalog",
    warehouse="s3://lake/warehouse",
    properties={
        "s3.endpoint": "https://s3.internal",
        "s3.region": "eu-central-1",
        "header.X-Iceberg-Access-Delegation": "vended-credentials",
    },
    credential_ref="cred_0002",
    credential_fields=["client_id", "client_secret"],
)


def _catalog(number: int) -> dict[str, object]:
    return {**_envelope(CATALOG, number), "actor": "key:key_0001"}


EXAMPLES: list[Event] = [
    IngestionCreated(**_ingestion(1), config=CONFIG, status="draft"),
    IngestionUpdated(**_ingestion(2), config=CONFIG, changed=["schedule"]),
    IngestionActivated(**_ingestion(3)),
    IngestionPaused(**_ingestion(4)),
    IngestionResumed(**_ingestion(5)),
    IngestionDeleted(**_ingestion(6), delete_table=True),
    RunRequested(
        **_run(7),
        trigger="backfill",
        scheduled_for=T0,
        operation=RunOperation(kind="backfill", window_from=T0, window_to=T1),
    ),
    RunStarted(**_run(8)),
    RunSkipped(**_run(9), reason="another run is active"),
    FilesDiscovered(**_run(10), files_listed=5, files_new=2, bytes_new=3072, backlog_files=1,
                    backlog_bytes=512, batch_ids=[BATCH]),
    RunCompleted(
        **_run(11),
        status="partial",
        metrics=RunMetrics(files_discovered=2, files_processed=1, files_failed=1, records_ingested=1000,
                           bytes_read=1024, duration_seconds=3.25, error_count=1, spark_seconds=1.25,
                           files_listed=5, batches=1),
        started_at=T0,
        errors=[RunError(error_type="MalformedRow", message="expected 4 columns, got 3",
                         file="/data/landing/orders/b.csv", line=17)],
        snapshot_ids=[7163284612834],
        cost=RunCost(estimated=0.0012, actual=0.0011, currency="USD"),
    ),
    TableDropRequested(**_run(21), destination=DESTINATION, cluster_id=CLUSTER),
    TableDropped(**_run(22), table="lake.sales.orders", existed=True),
    ProcessedFilesCleared(**_run(23), files=42),
    FilesMarkedSeen(**_run(24), files=7),
    AlertRaised(
        **{**_envelope("alr_0001", 25), "ingestion_id": INGESTION},
        kind="row_count_below_threshold",
        message="run run_0001 loaded 10 rows, below 100",
        details={"run_id": RUN, "rows": "10", "threshold": "100"},
    ),
    AlertCleared(
        **{**_envelope("alr_0001", 26), "ingestion_id": INGESTION},
        kind="row_count_below_threshold",
        reason="run run_0002 loaded 150 rows",
    ),
    BatchPlanned(**_batch(12), batch_number=1, files=FILES, source=SOURCE, format=FORMAT,
                 destination=DESTINATION, cluster_id=CLUSTER, read_files="connector"),
    BatchLoaded(
        **_batch(13),
        files=[FileResult(path="/data/landing/orders/a.csv", rows=1000, bytes=1024)],
        rows=1000,
        bytes=1024,
        snapshot_id=7163284612834,
        table="lake.sales.orders",
        duration_seconds=1.5,
        spark_seconds=1.25,
        read_by="cluster",
    ),
    BatchFailed(
        **_batch(14),
        paths=["/data/landing/orders/b.csv"],
        error=RunError(error_type="MalformedRow", message="expected 4 columns, got 3",
                       file="/data/landing/orders/b.csv", line=17),
        attempts=2,
    ),
    FilesSkipped(**{**_envelope("bsl_0001", 15), "ingestion_id": INGESTION}, files=FILES,
                 reason="present when the ingestion was activated (include_existing_files is false)"),
    SchemaChangeDetected(
        **_ingestion(16),
        version=1,
        diff=SCHEMA_CHANGE,
        files=["/data/landing/orders/b.csv"],
        run_id=RUN,
        mode="fail",
        resolution="pending",
    ),
    SchemaChangeResolved(**_ingestion(17), version=1, action="auto_merge", by="key:key_0001",
                         diff=SCHEMA_CHANGE, files=["/data/landing/orders/b.csv"]),
    ClusterRegistered(**_cluster(18), config=CLUSTER_CONFIG),
    ClusterUpdated(**_cluster(19), config=CLUSTER_CONFIG, changed=["pricing", "token"]),
    ClusterRemoved(**_cluster(20)),
    CatalogRegistered(**_catalog(21), config=CATALOG_CONFIG),
    CatalogUpdated(**_catalog(22), config=CATALOG_CONFIG, changed=["properties", "credentials"]),
    CatalogRemoved(**_catalog(23)),
]


def _golden_path(event: Event | type[Event]) -> Path:
    return GOLDEN / f"{event.type_tag()}.json"


def _pretty(data: bytes) -> str:
    return json.dumps(json.loads(data), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type_tag())
def test_event_matches_its_golden(event: Event) -> None:
    path = _golden_path(event)
    if UPDATE:
        path.write_text(_pretty(encode(event)))
    assert path.exists(), f"{path.name} missing: run UPDATE_GOLDEN=1 uv run pytest {__file__}"
    assert json.loads(encode(event)) == json.loads(path.read_text()), (
        f"the stored form of {event.type_tag()} changed; see the module docstring"
    )


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type_tag())
def test_golden_decodes_to_the_example(event: Event) -> None:
    assert decode(_golden_path(event).read_bytes()) == event


def test_every_event_type_has_one_example_and_a_golden() -> None:
    assert sorted(type(e).type_tag() for e in EXAMPLES) == sorted(t.type_tag() for t in EVENT_TYPES)
    for event_type in EVENT_TYPES:
        assert _golden_path(event_type).exists(), f"no golden for {event_type.type_tag()}"


def test_no_stray_goldens() -> None:
    known = {f"{t.type_tag()}.json" for t in EVENT_TYPES}
    # A golden of a retired version stays only while an upcaster reads it.
    from autoloader_contracts.codec import UPCASTERS

    known |= {f"{tag}.json" for tag in UPCASTERS}
    assert {p.name for p in GOLDEN.glob("*.json")} <= known


# Fields added after v1 shipped: events stored before them still decode, with the defaults.
ADDED_FIELDS = [
    ("batch.planned.v1", [], {"cluster_id": None, "read_files": "auto"}),
    ("batch.loaded.v1", [], {"spark_seconds": None, "read_by": None}),
    ("run.completed.v1", ["metrics"], {"spark_seconds": 0.0, "files_listed": 0, "batches": 0}),
    ("run.completed.v1", [], {"cost": None}),
    ("run.requested.v1", [], {"operation": None}),
    ("ingestion.created.v1", ["config"], {"engine": EngineSpec()}),
]


@pytest.mark.parametrize(("tag", "where", "defaults"), ADDED_FIELDS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_payload_without_the_added_fields_decodes_with_their_defaults(
    tag: str, where: list[str], defaults: dict[str, object]
) -> None:
    raw = json.loads((GOLDEN / f"{tag}.json").read_text())
    node = raw
    for key in where:
        node = node[key]
    for name in defaults:
        assert name in node, f"{tag} golden lacks {name}: regenerate it"
        del node[name]
    decoded: object = decode(json.dumps(raw).encode())
    for key in where:
        decoded = getattr(decoded, key)
    assert {name: getattr(decoded, name) for name in defaults} == defaults
