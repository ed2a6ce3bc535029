"""Spark and a REST catalog (issue 11): what the embedded engine writes there any engine reads, and native commits.

A Spark session that knows only the REST catalog (configured with the catalog's URI and token, not
through Autoloader) counts the rows and sees the batch-id snapshot property; Spark is the real
Spark 4.0 with the Iceberg runtime and S3FileIO (``spark_iceberg_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_core.ids import new_id
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark.session import ClusterTarget
from tests.catalog_env import RestCatalogServer, spark_catalog_conf
from tests.integration.conftest import (
    engine_settings,
    fresh_database,
    into_rest_catalog,
    outside_client,
    spark_router_on,
)
from tests.integration.test_loader_engine import planned, write_csv
from tests.spark_env import REST_CATALOG_IN_SPARK

pytestmark = pytest.mark.integration


async def test_a_spark_session_that_knows_only_the_rest_catalog_reads_the_loaded_table(
    rest_engine: EmbeddedEngine,
    landing: Path,
    rest_catalog_server: RestCatalogServer,
    spark_iceberg_url: str,
) -> None:
    database = fresh_database()
    files = [write_csv(landing, f"f{i}.csv", range(i * 1000, (i + 1) * 1000)) for i in range(3)]
    batch = into_rest_catalog(planned(landing, files), database)
    await rest_engine.load_batch(batch)

    spark = SparkSession.builder.remote(spark_iceberg_url).create()
    try:
        for key, value in spark_catalog_conf(rest_catalog_server, "theirs").items():
            spark.conf.set(key, value)
        table = f"theirs.{database}.orders"  # a generated name, no user input
        counted = spark.sql(f"SELECT count(*), count(DISTINCT id) FROM {table}").collect()  # noqa: S608
        batch_ids = spark.sql(f"SELECT summary['autoloader.batch-id'] FROM {table}.snapshots").collect()  # noqa: S608
    finally:
        spark.stop()

    assert tuple(counted[0]) == (3000, 3000)
    assert [row[0] for row in batch_ids] == [batch.aggregate_id]


@pytest.fixture
async def native_rest_router(
    database_url: str, tmp_path: Path, landing: Path, spark_iceberg_url: str
) -> AsyncIterator[EngineRouter]:
    """A ``native`` cluster whose Iceberg catalog ``rest`` is the session's REST catalog."""
    target = ClusterTarget(
        cluster_id="clu_rest", url=spark_iceberg_url, catalog=REST_CATALOG_IN_SPARK, commit_strategy="native"
    )
    router = spark_router_on(engine_settings(database_url, tmp_path, landing), target)
    yield router
    await router.close()


async def test_the_cluster_commits_natively_into_the_rest_catalog_creating_the_namespace_once_per_batch(
    native_rest_router: EngineRouter, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    database = fresh_database()  # no such namespace yet: the loader creates it through the cluster
    files = [write_csv(landing, f"n{i}.csv", range(i * 1000, (i + 1) * 1000)) for i in range(3)]
    batch = planned(landing, files, batch_id=new_id("bat"))
    batch = msgspec.structs.replace(
        batch,
        cluster_id="clu_rest",
        destination=msgspec.structs.replace(batch.destination, database=database, table="orders"),
    )

    first = await native_rest_router.load_batch(batch)
    again = await native_rest_router.load_batch(batch)  # a redelivery

    assert (first.rows, again.already_committed) == (3000, True)
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    rows = table.scan().to_arrow()
    assert (rows.num_rows, len(set(rows.column("id").to_pylist()))) == (3000, 3000)
    assert [s.summary["autoloader.batch-id"] for s in table.snapshots()] == [batch.aggregate_id]
    assert table.metadata.location.startswith(rest_catalog_server.warehouse)
