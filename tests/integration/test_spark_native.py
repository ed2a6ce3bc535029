"""The ``native`` commit strategy: the cluster's own Iceberg catalog commits each batch.

Most tests run against the session's Spark Connect server *with* Iceberg (``spark_iceberg_url``:
Spark 4.0.1, ``iceberg-spark-runtime-4.0_2.13:1.10.0``, a Hadoop catalog ``lake``; see
tests/spark_env.py). What the loader reports is checked against what the table holds, read back
through the cluster and, independently, through PyIceberg from the table's metadata files.
A few tests use the plain Spark 4.2 server (``spark_connect_url``, no Iceberg): the write the
loader sends as protobuf, and a cluster without the Iceberg catalog.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pyarrow as pa
import pytest
from pyiceberg.table import StaticTable
from pyspark.sql.connect.session import SparkSession

from autoloader_contracts.events import BatchPlanned, FileResult
from autoloader_core.errors import NotFoundError, TerminalError, ValidationFailed
from autoloader_loader.engine import BatchResult, LoadError, TableRef
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark import native
from autoloader_loader.spark import session as spark_session
from autoloader_loader.spark.session import ClusterTarget, SessionPool, arrow_frame, open_session
from tests.conftest import unique
from tests.integration.conftest import engine_settings, native_target, spark_router_on
from tests.integration.test_loader_engine import planned, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def session(spark_connect_url: str) -> Iterator[SparkSession]:
    """A session of its own on the plain (no Iceberg) server."""
    opened = open_session(ClusterTarget(cluster_id="clu_native", url=spark_connect_url))
    try:
        yield opened
    finally:
        opened.stop()


@pytest.fixture
def iceberg_session(spark_iceberg_url: str) -> Iterator[SparkSession]:
    """A session of its own on the Iceberg server."""
    opened = open_session(native_target(spark_iceberg_url))
    try:
        yield opened
    finally:
        opened.stop()


def native_batch(folder: Path, files: list[Any], *, table: str, **changes: Any) -> BatchPlanned:
    """A planned CSV batch into ``lake.db.<table>`` of the native cluster (``cluster_id`` set, as planned)."""
    batch = planned(folder, files, table=table)
    destination = msgspec.structs.replace(batch.destination, **changes)
    return msgspec.structs.replace(batch, cluster_id="clu_native", destination=destination)


def ref_of_table(table: str) -> TableRef:
    return TableRef("tnt_a", "lake", "db", table, cluster_id="clu_native")


def pyiceberg_view(info: dict[str, Any]) -> StaticTable:
    """The table as PyIceberg reads it from its newest metadata file (not through Spark)."""
    location = Path(urlsplit(info["location"]).path)
    newest = max((location / "metadata").glob("v*.metadata.json"), key=lambda p: int(p.name[1:].split(".")[0]))
    return StaticTable.from_metadata(str(newest))


def batch_snapshots(info: dict[str, Any], batch_id: str) -> list[dict[str, Any]]:
    return [s for s in info["snapshots"] if s["summary"].get("autoloader.batch-id") == batch_id]


# --- the write, as protobuf (plain server) ----------------------------------------------------


def test_the_write_names_the_table_and_carries_the_batch_as_snapshot_properties(
    session: SparkSession, landing: Path
) -> None:
    batch = planned(landing, [write_csv(landing, "a.csv", range(3))])
    files = [FileResult(path="a.csv", rows=3, bytes=10)]
    frame = session.createDataFrame(pa.table({"id": [0, 1, 2]}))
    name = native.table_name("lake", TableRef("tnt_a", "lake", "db", "t"))
    properties = native.snapshot_properties(batch, files)

    append = native.plan_write(frame, name, properties, native.TableState(exists=True, snapshot_id=42))
    first = native.plan_write(frame, name, properties, native.TableState(exists=True, snapshot_id=None))
    create = native.plan_write(frame, name, properties, native.TableState(exists=False))

    sent = append._write.command(session.client).write_operation_v2
    assert sent.table_name == "`lake`.`db`.`t`"
    assert dict(sent.options) == {
        "snapshot-property.autoloader.ingestion-id": batch.ingestion_id,
        "snapshot-property.autoloader.run-id": batch.run_id,
        "snapshot-property.autoloader.batch-id": batch.aggregate_id,
        "snapshot-property.autoloader.file-rows": "3",
        "snapshot-property.autoloader.batch-rows": "3",
        "mergeSchema": "true",
        "isolation-level": "serializable",
        "check-ordering": "false",
        "validate-from-snapshot-id": "42",
    }
    assert "validate-from-snapshot-id" not in first._write.command(session.client).write_operation_v2.options
    created = create._write.command(session.client).write_operation_v2
    assert created.provider == "iceberg"
    assert dict(created.table_properties) == {"format-version": "2", "write.spark.accept-any-schema": "true"}
    assert "mergeSchema" not in created.options


def test_identifiers_that_are_not_plain_names_never_reach_sql() -> None:
    with pytest.raises(LoadError, match="not a valid identifier"):
        native.table_name("lake", TableRef("tnt_a", "lake", "db", "t`; DROP TABLE x; --"))


def test_only_append_is_native(landing: Path) -> None:
    batch = planned(landing, [write_csv(landing, "a.csv", range(3))])
    merge = msgspec.structs.replace(
        batch, destination=msgspec.structs.replace(batch.destination, write_mode="merge", merge_keys=["id"])
    )
    with pytest.raises(LoadError, match="needs the staged commit strategy"):
        native.check_write_mode(merge)


async def test_a_cluster_without_the_iceberg_catalog_fails_the_batch_with_a_plain_message(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str
) -> None:
    target = ClusterTarget(cluster_id="clu_native", url=spark_connect_url, catalog="lake", commit_strategy="native")
    router: EngineRouter = spark_router_on(engine_settings(database_url, tmp_path, landing), target)
    try:
        with pytest.raises(TerminalError, match=r"the cluster has no catalog 'lake'.*staged"):
            await router.load_batch(planned(landing, [write_csv(landing, "a.csv", range(3))]))
    finally:
        await router.close()


async def test_a_plain_spark_table_of_a_native_cluster_is_read_through_the_cluster(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str, session: SparkSession
) -> None:
    # A Parquet table in spark_catalog answers samples and drops like an Iceberg table; describing
    # it says it is not Iceberg.
    session.sql("CREATE DATABASE IF NOT EXISTS native_db").collect()
    session.createDataFrame(pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})).write.mode("overwrite").saveAsTable(
        "spark_catalog.native_db.t"
    )
    target = ClusterTarget(
        cluster_id="clu_native", url=spark_connect_url, catalog="spark_catalog", commit_strategy="native"
    )
    router: EngineRouter = spark_router_on(engine_settings(database_url, tmp_path, landing), target)
    ref = TableRef("tnt_a", "spark_catalog", "native_db", "t", cluster_id="clu_native")
    missing = TableRef("tnt_a", "spark_catalog", "native_db", "nope", cluster_id="clu_native")
    try:
        rows = await router.table_sample(ref, limit=10, columns=["id"])
        with pytest.raises(ValidationFailed, match="unknown column 'nope'"):
            await router.table_sample(ref, limit=10, columns=["nope"])
        with pytest.raises(TerminalError, match="is not an Iceberg table"):
            await router.table_info(ref)
        with pytest.raises(NotFoundError, match="does not exist yet"):
            await router.table_info(missing)
        dropped = await router.drop_table(ref)
        dropped_again = await router.drop_table(ref)
    finally:
        await router.close()
    assert sorted(r["id"] for r in rows) == [1, 2, 3]
    assert (dropped, dropped_again) == (True, False)


# --- for real, on Spark with Iceberg ----------------------------------------------------------


async def test_a_batch_creates_the_table_in_the_clusters_catalog_with_its_snapshot_properties(
    native_router: EngineRouter, landing: Path
) -> None:
    table = unique("created")
    files = [write_csv(landing, f"f{i}.csv", range(i * 100, (i + 1) * 100)) for i in range(3)]
    batch = native_batch(landing, files, table=table)

    result = await native_router.load_batch(batch)

    assert (result.rows, [f.rows for f in result.files], result.table) == (300, [100, 100, 100], f"lake.db.{table}")
    assert not result.already_committed
    assert result.spark_seconds is not None
    assert result.spark_seconds > 0
    info = await native_router.table_info(ref_of_table(table))
    assert info["row_count"] == 300
    assert info["format_version"] == 2
    assert [(c["name"], c["type"]) for c in info["schema"]] == [("id", "bigint"), ("name", "string")]
    [snapshot] = info["snapshots"]
    assert snapshot["snapshot_id"] == result.snapshot_id
    assert snapshot["operation"] == "append"
    assert snapshot["summary"]["autoloader.batch-id"] == batch.aggregate_id
    assert snapshot["summary"]["autoloader.run-id"] == batch.run_id
    assert snapshot["summary"]["autoloader.ingestion-id"] == "ing_test"
    assert snapshot["summary"]["autoloader.file-rows"] == "100,100,100"
    # The same table seen by PyIceberg from the metadata files the cluster's catalog wrote.
    static = pyiceberg_view(info)
    assert static.current_snapshot() is not None
    assert static.current_snapshot().snapshot_id == result.snapshot_id  # type: ignore[union-attr]
    assert static.current_snapshot().summary["autoloader.batch-id"] == batch.aggregate_id  # type: ignore[union-attr]
    ids = static.scan().to_arrow().column("id").to_pylist()
    assert sorted(ids) == list(range(300))


async def test_the_same_batch_twice_commits_once(native_router: EngineRouter, landing: Path) -> None:
    table = unique("redelivered")
    batch = native_batch(landing, [write_csv(landing, "once.csv", range(10))], table=table)

    first = await native_router.load_batch(batch)
    found = await native_router.find_committed(batch)
    again = await native_router.load_batch(batch)

    assert again.already_committed
    assert found is not None
    assert found.already_committed
    assert again.snapshot_id == found.snapshot_id == first.snapshot_id
    assert (again.rows, [f.rows for f in again.files]) == (10, [10])
    info = await native_router.table_info(ref_of_table(table))
    assert info["row_count"] == 10
    assert len(info["snapshots"]) == 1
    assert len(pyiceberg_view(info).scan().to_arrow()) == 10


class CommitGate:
    """Holds every native commit until ``parties`` writers have reached it, so they all race."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=120)
        self.passed: set[int] = set()
        self.original = native.commit

    def __call__(self, writer: Any, state: native.TableState) -> None:
        thread = threading.get_ident()
        if thread not in self.passed:  # only the first attempt of each writer waits
            self.passed.add(thread)
            self.barrier.wait()
        self.original(writer, state)


async def _race(
    routers: list[EngineRouter], batches: list[BatchPlanned], monkeypatch: pytest.MonkeyPatch
) -> list[BatchResult]:
    monkeypatch.setattr(native, "commit", CommitGate(len(routers)))
    return list(await asyncio.gather(*(r.load_batch(b) for r, b in zip(routers, batches, strict=True))))


@pytest.fixture
async def second_native_router(
    database_url: str, tmp_path: Path, landing: Path, spark_iceberg_url: str
) -> AsyncIterator[EngineRouter]:
    """Another loader on the same cluster: its own engine and session pool (its own Spark session)."""
    settings = engine_settings(database_url, tmp_path, landing)
    router = spark_router_on(settings, native_target(spark_iceberg_url), SessionPool())
    yield router
    await router.close()


async def test_two_loaders_racing_on_one_batch_commit_it_once(
    native_router: EngineRouter, second_native_router: EngineRouter, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = unique("race")
    await native_router.load_batch(native_batch(landing, [write_csv(landing, "seed.csv", range(5))], table=table))
    batch = native_batch(landing, [write_csv(landing, "race.csv", range(100, 200))], table=table)

    # Both loaders pass the batch-id check before either commits: only Iceberg's validation stops one.
    results = await _race([native_router, second_native_router], [batch, batch], monkeypatch)

    assert len({r.snapshot_id for r in results}) == 1
    assert sorted(r.already_committed for r in results) == [False, True]
    assert all(r.rows == 100 for r in results)
    info = await native_router.table_info(ref_of_table(table))
    assert info["row_count"] == 105
    assert len(batch_snapshots(info, batch.aggregate_id)) == 1
    assert len(pyiceberg_view(info).scan().to_arrow()) == 105


async def test_two_loaders_racing_with_different_batches_both_commit_once(
    native_router: EngineRouter, second_native_router: EngineRouter, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = unique("race2")
    await native_router.load_batch(native_batch(landing, [write_csv(landing, "seed.csv", range(5))], table=table))
    one = native_batch(landing, [write_csv(landing, "one.csv", range(100, 110))], table=table)
    two = native_batch(landing, [write_csv(landing, "two.csv", range(200, 220))], table=table)

    # The loser's conditional append is refused, it finds its batch not committed and appends again.
    results = await _race([native_router, second_native_router], [one, two], monkeypatch)

    assert [r.already_committed for r in results] == [False, False]
    info = await native_router.table_info(ref_of_table(table))
    assert info["row_count"] == 35
    assert [len(batch_snapshots(info, b.aggregate_id)) for b in (one, two)] == [1, 1]
    ids = pyiceberg_view(info).scan().to_arrow().column("id").to_pylist()
    assert sorted(ids) == [*range(5), *range(100, 110), *range(200, 220)]


async def test_a_new_column_evolves_the_table_with_lineage(native_router: EngineRouter, landing: Path) -> None:
    table = unique("evolves")
    ref = ref_of_table(table)
    first = native_batch(landing, [write_csv(landing, "v1.csv", range(3))], table=table, lineage_columns=True)
    second = native_batch(
        landing, [write_csv(landing, "v2.csv", range(3, 5), extra="score")], table=table, lineage_columns=True
    )

    await native_router.load_batch(first)
    await native_router.load_batch(second)

    info = await native_router.table_info(ref)
    names = [c["name"] for c in info["schema"]]
    assert names == ["id", "name", "_source_file", "_source_modified_at", "_ingest_run_id", "_ingested_at", "score"]
    assert info["row_count"] == 5
    rows = await native_router.table_sample(ref, limit=100, columns=["id", "score", "_source_file"])
    assert sorted((r["id"], r["score"], r["_source_file"]) for r in rows) == [
        (0, None, "v1.csv"),
        (1, None, "v1.csv"),
        (2, None, "v1.csv"),
        (3, 30, "v2.csv"),
        (4, 40, "v2.csv"),
    ]
    assert len(info["snapshots"]) == 2


@pytest.mark.parametrize("mode", ["overwrite", "merge"])
async def test_overwrite_and_merge_are_refused_before_anything_is_written(
    native_router: EngineRouter, landing: Path, mode: str
) -> None:
    table = unique("refused")
    await native_router.load_batch(native_batch(landing, [write_csv(landing, "a.csv", range(4))], table=table))
    keys = ["id"] if mode == "merge" else []
    files = [write_csv(landing, "b.csv", range(2))]
    batch = native_batch(landing, files, table=table, write_mode=mode, merge_keys=keys)

    with pytest.raises(LoadError, match=f"write_mode '{mode}' needs the staged commit strategy"):
        await native_router.load_batch(batch)

    info = await native_router.table_info(ref_of_table(table))
    assert (info["row_count"], len(info["snapshots"])) == (4, 1)


async def test_sample_info_and_drop_of_an_iceberg_table_go_through_the_cluster(
    native_router: EngineRouter, landing: Path
) -> None:
    table = unique("dropped")
    ref = ref_of_table(table)
    await native_router.load_batch(native_batch(landing, [write_csv(landing, "a.csv", range(4))], table=table))
    location = Path(urlsplit((await native_router.table_info(ref))["location"]).path)
    assert (location / "metadata").is_dir()

    with pytest.raises(ValidationFailed, match="unknown column 'nope'"):
        await native_router.table_sample(ref, limit=10, columns=["nope"])
    assert len(await native_router.table_sample(ref, limit=2, columns=None)) == 2
    assert await native_router.drop_table(ref) is True
    assert await native_router.drop_table(ref) is False
    with pytest.raises(NotFoundError, match="does not exist yet"):
        await native_router.table_info(ref)
    assert not list(location.rglob("*.parquet")), "DROP TABLE ... PURGE left data files"


# --- the client against an older server -------------------------------------------------------


def test_sizes_in_spark_settings_are_read_as_bytes() -> None:
    assert spark_session.byte_count("3221225472b") == 3 * 2**30
    assert spark_session.byte_count("64m") == 64 * 2**20
    assert spark_session.byte_count("1024") == 1024
    assert spark_session.byte_count("lots") is None


def test_the_client_settles_the_settings_an_older_server_lacks(
    iceberg_session: SparkSession, session: SparkSession
) -> None:
    # Spark 4.0 has none of the chunked local-relation settings pyspark-client 4.2 reads; the
    # current server has them all, and keeps its own values.
    assert iceberg_session.version.startswith("4.0.")
    keys = list(spark_session.LOCAL_RELATION_CONF)
    assert iceberg_session.client.get_config_dict(*keys) == spark_session.LOCAL_RELATION_CONF
    assert iceberg_session in spark_session._legacy_thresholds
    assert spark_session._legacy_thresholds[iceberg_session] == 64 * 2**20
    assert session not in spark_session._legacy_thresholds
    assert all(v is not None and v.isdigit() for v in session.client.get_config_dict(*keys).values())


def test_large_data_reaches_an_older_server_as_a_cached_relation(
    iceberg_session: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pa.table({"id": pa.array(range(50_000), pa.int64()), "text": ["x" * 16] * 50_000})
    # From this size on the data is uploaded as an artifact (Spark 4.0's cached local relation);
    # the real threshold is the server's 64 MiB, lowered here to keep the test small.
    monkeypatch.setitem(spark_session._legacy_thresholds, iceberg_session, 1024)

    frame = arrow_frame(iceberg_session, data)

    assert type(frame._plan).__name__ == "_CachedLocalRelation"
    counted = frame.selectExpr("count(*)", "sum(id)", "max(length(text))").collect()[0]
    assert tuple(counted) == (50_000, sum(range(50_000)), 16)
    small = arrow_frame(iceberg_session, data.slice(0, 10))
    assert type(small._plan).__name__ == "LocalRelation"
