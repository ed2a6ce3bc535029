"""What the embedded engine writes into a REST catalog is a table every engine of the lake can read (issue 11).

A Spark session that knows only the REST catalog (configured with the catalog's URI and token, not
through Autoloader) counts the rows and sees the batch-id snapshot property; Spark is the real
Spark 4.0 with the Iceberg runtime and S3FileIO (``spark_iceberg_url``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_loader.embedded import EmbeddedEngine
from tests.catalog_env import RestCatalogServer, spark_catalog_conf
from tests.integration.conftest import fresh_database, into_rest_catalog
from tests.integration.test_loader_engine import planned, write_csv

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
