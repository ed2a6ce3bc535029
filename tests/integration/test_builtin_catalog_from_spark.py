"""Tables in the built-in catalog are readable by the user's own Spark (issue 11, docs/spark.md).

The built-in catalog is PyIceberg's ``SqlCatalog`` on Autoloader's PostgreSQL; its tables are the
layout of Iceberg's ``JdbcCatalog``, so a Spark with the Iceberg runtime and PostgreSQL's JDBC
driver reads them with a JDBC catalog named ``<tenant>__<catalog>`` (the name the rows carry).
This test uses exactly the settings docs/spark.md gives.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_loader.embedded import EmbeddedEngine
from tests.integration.test_loader_engine import planned, write_csv

pytestmark = pytest.mark.integration


def jdbc_catalog_conf(database_url: str, warehouse: str, tenant: str, catalog: str) -> dict[str, str]:
    """The Spark settings of docs/spark.md, "Reading the built-in catalog from your Spark"."""
    url = urlsplit(database_url)
    name = f"{tenant}__{catalog}"
    prefix = f"spark.sql.catalog.{name}"
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": f"jdbc:postgresql://{url.hostname}:{url.port}{url.path}",
        f"{prefix}.jdbc.user": url.username or "",
        f"{prefix}.jdbc.password": url.password or "",
        f"{prefix}.warehouse": f"{warehouse.rstrip('/')}/{tenant}/{catalog}",  # AUTOLOADER_WAREHOUSE/<tenant>/<catalog>
    }


async def test_a_spark_jdbc_catalog_reads_a_table_of_the_builtin_catalog(
    engine: EmbeddedEngine, landing: Path, tmp_path: Path, database_url: str, spark_iceberg_url: str
) -> None:
    files = [write_csv(landing, f"f{i}.csv", range(i * 100, (i + 1) * 100)) for i in range(4)]
    batch = planned(landing, files)  # tnt_a, lake.db.t
    await engine.load_batch(batch)

    spark = SparkSession.builder.remote(spark_iceberg_url).create()
    try:
        for key, value in jdbc_catalog_conf(database_url, (tmp_path / "warehouse").as_uri(), "tnt_a", "lake").items():
            spark.conf.set(key, value)
        counted = spark.sql("SELECT count(*), count(DISTINCT id) FROM tnt_a__lake.db.t").collect()
        batch_ids = spark.sql("SELECT summary['autoloader.batch-id'] FROM tnt_a__lake.db.t.snapshots").collect()
    finally:
        spark.stop()

    assert tuple(counted[0]) == (400, 400)
    assert [row[0] for row in batch_ids] == [batch.aggregate_id]
