"""What only the Spark Connect engine does: sessions on demand, Spark-written files, reconnects, cost facts.

The shared behaviour (tables, evolution, exactly-once, bad files) runs on both engines in
test_loader_engine.py; these tests use the session's real local Spark Connect server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_cli.servers import free_port
from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.ingestion import PartitioningSpec
from autoloader_core.errors import TransientError
from autoloader_loader.engine import NeedsLocalCopies, TableRef
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark.engine import SparkConnectEngine
from autoloader_loader.spark.session import ClusterTarget, SessionPool
from autoloader_loader.staging import Stager
from tests.integration.conftest import engine_settings, spark_router_on
from tests.integration.test_loader_engine import planned, ref_of, write_csv
from tests.source_envs.s3 import S3Place
from tests.support import eventually

pytestmark = pytest.mark.integration

REF = TableRef("tnt_a", "lake", "db", "t")


@pytest.fixture
async def spark(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str
) -> AsyncIterator[tuple[EngineRouter, SessionPool, ClusterTarget]]:
    """A router whose batches all go to the local Spark server, with a pool that closes sessions after 1 s idle."""
    settings = engine_settings(database_url, tmp_path, landing)
    pool = SessionPool(idle_seconds=1.0)
    target = ClusterTarget(cluster_id="clu_test", url=spark_connect_url)

    async def resolve(tenant_id: str, cluster_id: str | None) -> ClusterTarget:
        return target

    router = EngineRouter(SparkConnectEngine(settings, pool), resolve)
    yield router, pool, target
    await router.close()


def with_destination(batch: BatchPlanned, **changes: object) -> BatchPlanned:
    return msgspec.structs.replace(batch, destination=msgspec.structs.replace(batch.destination, **changes))


async def test_spark_writes_the_files_and_the_loader_commits_them(
    spark: tuple[EngineRouter, SessionPool, ClusterTarget], landing: Path, tmp_path: Path
) -> None:
    router, pool, _ = spark
    batch = planned(landing, [write_csv(landing, "a.csv", range(50)), write_csv(landing, "b.csv", range(50, 80))])

    result = await router.load_batch(batch)

    assert (result.rows, [f.rows for f in result.files]) == (80, [50, 30])
    assert result.read_by == "connector"
    assert result.spark_seconds is not None
    assert result.spark_seconds > 0
    info = await router.table_info(REF)
    assert info["row_count"] == 80
    (snapshot,) = info["snapshots"]
    assert snapshot["summary"]["autoloader.batch-id"] == batch.aggregate_id
    assert snapshot["summary"]["autoloader.run-id"] == batch.run_id
    # The data files are the ones Spark wrote into the batch's staging folder.
    written = list((tmp_path / "warehouse").rglob(f"autoloader/{batch.aggregate_id}/**/*.parquet"))
    assert len(written) == 1
    assert pool.stats.opened == 1


async def test_sessions_open_on_demand_are_reused_and_close_when_idle(
    spark: tuple[EngineRouter, SessionPool, ClusterTarget], landing: Path
) -> None:
    router, pool, _ = spark
    assert pool.stats.opened == 0  # nothing opened before a batch has work

    first = planned(landing, [write_csv(landing, "a.csv", range(10))])
    await router.load_batch(first)
    await router.load_batch(planned(landing, [write_csv(landing, "b.csv", range(10, 20))]))
    assert (pool.stats.opened, pool.stats.idle) == (1, 1)  # the second batch reused the session

    # A redelivered batch is answered from the table: no session is leased for it.
    again = await router.load_batch(first)
    assert again.already_committed
    assert await router.find_committed(first) is not None

    async def closed() -> bool:
        return pool.stats.closed >= 1

    await eventually(closed, timeout=10, what="the idle session to close")
    assert (pool.stats.opened, pool.stats.closed, pool.stats.idle) == (1, 1, 0)

    # After the idle close, the next batch opens a new session.
    await router.load_batch(planned(landing, [write_csv(landing, "c.csv", range(20, 25))]))
    assert pool.stats.opened == 2
    assert (await router.table_info(REF))["row_count"] == 25


async def test_a_session_the_server_dropped_is_replaced_without_failing_the_batch(
    spark: tuple[EngineRouter, SessionPool, ClusterTarget], landing: Path
) -> None:
    router, pool, target = spark
    await router.load_batch(planned(landing, [write_csv(landing, "a.csv", range(10))]))
    # The server ends the idle session behind the pool's back (an expired or released session).
    with pool.lease(target, keep_on=lambda exc: True) as session:
        session.client.release_session()

    result = await router.load_batch(planned(landing, [write_csv(landing, "b.csv", range(10, 30))]))

    assert result.rows == 20
    assert pool.stats.opened == 2
    assert (await router.table_info(REF))["row_count"] == 30


async def test_an_unreachable_cluster_is_a_transient_error_and_nothing_is_committed(
    database_url: str, tmp_path: Path, landing: Path
) -> None:
    settings = engine_settings(database_url, tmp_path, landing)
    target = ClusterTarget(cluster_id="clu_gone", url=f"sc://127.0.0.1:{free_port()}")

    async def resolve(tenant_id: str, cluster_id: str | None) -> ClusterTarget:
        return target

    router = EngineRouter(SparkConnectEngine(settings, SessionPool()), resolve)
    try:
        with pytest.raises(TransientError):
            await router.load_batch(planned(landing, [write_csv(landing, "a.csv", range(10))]))
        with pytest.raises(Exception, match="does not exist yet"):
            await router.table_info(REF)
    finally:
        await router.close()


async def test_partitioned_tables_get_one_file_per_partition_with_lineage(
    spark: tuple[EngineRouter, SessionPool, ClusterTarget], landing: Path, tmp_path: Path
) -> None:
    router, _, _ = spark
    lines = ["id,kind"] + [f"{i},{'ab'[i % 2]}" for i in range(20)]
    (landing / "k.csv").write_text("\n".join(lines) + "\n")
    batch = with_destination(
        planned(landing, [ref_of(landing, "k.csv")], table="parts"),
        partitioning=PartitioningSpec(enabled=True, columns=["kind"]),
        lineage_columns=True,
    )

    await router.load_batch(batch)

    ref = TableRef("tnt_a", "lake", "db", "parts")
    info = await router.table_info(ref)
    assert info["row_count"] == 20
    written = list((tmp_path / "warehouse").rglob(f"autoloader/{batch.aggregate_id}/**/*.parquet"))
    assert len(written) == 2
    rows = await router.table_sample(ref, limit=100, columns=["id", "kind", "_source_file", "_ingest_run_id"])
    assert sorted(r["id"] for r in rows if r["kind"] == "a") == list(range(0, 20, 2))
    assert {r["_source_file"] for r in rows} == {"k.csv"}
    assert {r["_ingest_run_id"] for r in rows} == {batch.run_id}


async def test_merge_through_spark_updates_and_inserts_by_key(
    spark: tuple[EngineRouter, SessionPool, ClusterTarget], landing: Path
) -> None:
    router, _, _ = spark
    first = with_destination(
        planned(landing, [write_csv(landing, "a.csv", range(10))], table="m"), write_mode="merge", merge_keys=["id"]
    )
    await router.load_batch(first)
    (landing / "b.csv").write_text("id,name\n" + "\n".join(f"{i},new{i}" for i in range(5, 15)) + "\n")
    second = with_destination(
        planned(landing, [ref_of(landing, "b.csv")], table="m"), write_mode="merge", merge_keys=["id"]
    )
    await router.load_batch(second)

    rows = await router.table_sample(TableRef("tnt_a", "lake", "db", "m"), limit=100, columns=["id", "name"])
    by_id = {r["id"]: r["name"] for r in rows}
    assert len(rows) == 15
    assert by_id[0] == "n0"
    assert by_id[5] == "new5"
    assert by_id[14] == "new14"


async def test_the_cluster_reads_shared_files_itself_with_the_same_lineage(
    spark_reading_router: EngineRouter, landing: Path
) -> None:
    (landing / "sub dir").mkdir()
    write_csv(landing, "sub dir/a b.csv", range(40))
    batch = with_destination(
        planned(landing, [ref_of(landing, "sub dir/a b.csv"), write_csv(landing, "c.csv", range(40, 50))]),
        lineage_columns=True,
    )

    result = await spark_reading_router.load_batch(batch)

    assert result.read_by == "cluster"
    assert (result.rows, [f.rows for f in result.files]) == (50, [40, 10])
    assert result.spark_seconds is not None
    assert result.spark_seconds > 0
    info = await spark_reading_router.table_info(REF)
    assert {c["name"]: c["type"] for c in info["schema"]}["id"] == "long"  # as our readers infer
    rows = await spark_reading_router.table_sample(
        REF, limit=100, columns=["id", "_source_file", "_source_modified_at"]
    )
    by_file = {r["_source_file"] for r in rows if r["id"] < 40}
    assert by_file == {"sub dir/a b.csv"}
    assert {r["_source_file"] for r in rows if r["id"] >= 40} == {"c.csv"}
    assert all(r["_source_modified_at"] is not None for r in rows)
    assert (await spark_reading_router.load_batch(batch)).already_committed


async def test_data_spark_refuses_is_read_again_by_the_connectors_under_the_policy(
    spark_reading_router: EngineRouter, landing: Path
) -> None:
    good = write_csv(landing, "good.csv", range(5))
    (landing / "bad.parquet").write_bytes(b"PAR1 definitely not parquet")
    write_pq = planned(landing, [ref_of(landing, "bad.parquet")], fmt="parquet", table="pq", on_error="skip_file")

    skipped = await spark_reading_router.load_batch(write_pq)
    loaded = await spark_reading_router.load_batch(planned(landing, [good]))

    assert skipped.read_by == "connector"  # Spark refused the footer; the connectors applied skip_file
    assert [e.file for e in skipped.failed_files] == ["bad.parquet"]
    assert loaded.read_by == "cluster"


async def test_an_ingestion_can_insist_on_connector_reading(spark_reading_router: EngineRouter, landing: Path) -> None:
    batch = msgspec.structs.replace(planned(landing, [write_csv(landing, "a.csv", range(5))]), read_files="connector")

    result = await spark_reading_router.load_batch(batch)

    assert (result.read_by, result.rows) == ("connector", 5)


async def test_a_cluster_that_cannot_read_the_object_store_asks_for_local_copies(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str, s3_place: S3Place
) -> None:
    # The test server has no hadoop-aws: it refuses s3a:// and the batch is loaded from local copies.
    for n in range(2):
        rows = "".join(f"{i},n{i}\n" for i in range(n * 30, n * 30 + 30))
        await s3_place.put(f"part-{n}.csv", f"id,name\n{rows}".encode())
    files = [FileRef(path=f"part-{n}.csv", size=1, modified_at=datetime.now(UTC)) for n in range(2)]
    batch = msgspec.structs.replace(planned(landing, files, table="s3"), source=s3_place.spec(pattern="*.csv"))
    target = ClusterTarget(cluster_id="clu_s3", url=spark_connect_url, options={"reads_object_stores": True})
    router = spark_router_on(engine_settings(database_url, tmp_path, landing), target)

    async def credentials(tenant_id: str, ref: str | None) -> dict[str, str] | None:
        return s3_place.credentials

    stager = Stager(scratch_root=tmp_path / "scratch", credentials=credentials, allowed_roots=[landing])
    try:
        assert await router.reads_in_place(batch)
        with pytest.raises(NeedsLocalCopies, match="could not read the batch's s3 files"):
            await router.load_batch(batch)
        async with stager.stage(batch) as staged:
            result = await router.load_batch(batch, staged)
    finally:
        await router.close()
    assert (result.read_by, result.rows) == ("connector", 60)


async def test_a_session_to_another_dead_cluster_does_not_disturb_this_clusters_batch(
    spark_reading_router: EngineRouter, landing: Path
) -> None:
    # pyspark makes the last session created in the process the "active" one and some of its
    # helpers ask that session for settings; the engine must never depend on it.
    dead = SparkSession.builder.remote(f"sc://127.0.0.1:{free_port()}").create()  # no round trip yet
    try:
        batch = with_destination(planned(landing, [write_csv(landing, "a.csv", range(12))]), lineage_columns=True)
        result = await spark_reading_router.load_batch(batch)
    finally:
        dead.client.close()
    assert (result.read_by, result.rows) == ("cluster", 12)
    rows = await spark_reading_router.table_sample(REF, limit=20, columns=["_ingested_at", "_source_modified_at"])
    assert all(r["_ingested_at"] and r["_source_modified_at"] for r in rows)


def test_a_leased_session_is_the_active_session_of_its_thread_only_while_leased(spark_connect_url: str) -> None:
    pool = SessionPool()
    target = ClusterTarget(cluster_id="clu_test", url=spark_connect_url)
    try:
        with pool.lease(target, keep_on=lambda exc: True) as session:
            assert SparkSession.getActiveSession() is session
        assert SparkSession.getActiveSession() is None
        with pool.lease(target, keep_on=lambda exc: True) as again:
            assert again is session  # pooled
            assert SparkSession.getActiveSession() is session
    finally:
        pool.close()
