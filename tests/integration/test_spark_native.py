"""The ``native`` commit strategy, as far as a Spark without Iceberg can show it.

No Iceberg runtime for Spark 4 installs here (FACTS.md), so these tests check the write the loader
sends (the ``WriteOperationV2`` command as protobuf, built on a real session) and what happens on
a cluster whose catalog has no Iceberg. The real round trip runs with the compose profile in
``deploy/spark-iceberg`` (docs/spark.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_contracts.events import FileResult
from autoloader_core.errors import NotFoundError, TerminalError, ValidationFailed
from autoloader_loader.engine import LoadError, TableRef
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark import native
from autoloader_loader.spark.session import ClusterTarget, open_session
from tests.integration.conftest import engine_settings, spark_router_on
from tests.integration.test_loader_engine import planned, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def session(spark_connect_url: str) -> Iterator[SparkSession]:
    """A session of its own on the local server."""
    opened = open_session(ClusterTarget(cluster_id="clu_native", url=spark_connect_url))
    try:
        yield opened
    finally:
        opened.stop()


def test_the_write_names_the_table_and_carries_the_batch_as_snapshot_properties(
    session: SparkSession, landing: Path
) -> None:
    batch = planned(landing, [write_csv(landing, "a.csv", range(3))])
    files = [FileResult(path="a.csv", rows=3, bytes=10)]
    frame = session.createDataFrame(pa.table({"id": [0, 1, 2]}))
    name = native.table_name("lake", TableRef("tnt_a", "lake", "db", "t"))

    append = native.plan_write(frame, name, native.snapshot_properties(batch, files), exists=True)
    create = native.plan_write(frame, name, native.snapshot_properties(batch, files), exists=False)

    sent = append._write.command(session.client).write_operation_v2
    assert sent.table_name == "`lake`.`db`.`t`"
    assert dict(sent.options) == {
        "snapshot-property.autoloader.ingestion-id": batch.ingestion_id,
        "snapshot-property.autoloader.run-id": batch.run_id,
        "snapshot-property.autoloader.batch-id": batch.aggregate_id,
        "snapshot-property.autoloader.file-rows": "3",
        "snapshot-property.autoloader.batch-rows": "3",
        "mergeSchema": "true",
    }
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


async def test_tables_of_a_native_cluster_are_read_through_the_cluster(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str, session: SparkSession
) -> None:
    # spark_catalog stands in for the cluster's Iceberg catalog: a plain Parquet table there answers
    # samples and drops the same way; describing it shows it is not Iceberg.
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
