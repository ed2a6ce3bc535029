"""Issue 11 end to end, through the HTTP API only: tables in the tenant's own Iceberg REST catalog.

The tenant registers the session's real REST catalog server (``POST /api/v1/catalogs``), and an
ingestion of CSV files on the S3 emulator writes ``rest_catalog.<database>.orders``. What Autoloader
wrote is then read by clients that know only the catalog, not Autoloader: PyIceberg, and a Spark
session (Spark 4.0 with the Iceberg runtime) configured with the catalog's URI and token.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from pyspark.sql.connect.session import SparkSession

from autoloader_cli.stack import Stack
from tests.catalog_env import RestCatalogServer, spark_catalog_conf
from tests.conftest import unique
from tests.e2e.conftest import Api, metric_total
from tests.integration.conftest import REST_CATALOG, outside_client
from tests.integration.test_api_catalogs import rest_body
from tests.source_envs.s3 import S3Place
from tests.spark_env import SparkConnectServer, spark_ui_port

pytestmark = pytest.mark.e2e

BYTES_METRIC = "autoloader_loader_source_bytes_total"


def csv_bytes(first_id: int, rows: int) -> bytes:
    lines = ["id,name,amount", *(f"{i},name-{i},{i * 1.5}" for i in range(first_id, first_id + rows))]
    return ("\n".join(lines) + "\n").encode()


def register_rest_catalog(api: Api, server: RestCatalogServer, **overrides: object) -> dict[str, Any]:
    """Register the session's REST catalog server for the tenant (``rest_catalog`` unless ``name`` is given)."""
    response = api.http.post("/catalogs", json=rest_body(server, **overrides))
    assert response.status_code == 201, response.text
    catalog: dict[str, Any] = response.json()
    return catalog


def s3_ingestion(
    api: Api, place: S3Place, database: str, *, catalog: str = REST_CATALOG, **overrides: object
) -> dict[str, Any]:
    """An ingestion of the place's CSV files into ``<catalog>.<database>.orders`` (credentials sent inline)."""
    source = msgspec.to_builtins(place.spec(pattern="*.csv"))
    source.pop("credential_ref", None)
    source["credentials"] = place.credentials
    return api.create(
        {
            "name": unique("orders"),
            "source": source,
            "format": {"type": "csv"},
            "destination": {"catalog": catalog, "database": database, "table": "orders"},
            **overrides,
        }
    )


async def test_an_ingestion_into_a_registered_rest_catalog_is_read_by_clients_that_know_only_the_catalog(
    stack: Stack, api: Api, rest_catalog_server: RestCatalogServer, s3_place: S3Place, spark_iceberg_url: str
) -> None:
    catalog = register_rest_catalog(api, rest_catalog_server)
    check = api.http.post(f"/catalogs/{catalog['id']}/test-connection").json()
    assert (check["reachable"], check["authenticated"], check["warehouse_found"]) == (True, True, True), check
    for n in range(3):
        await s3_place.put(f"part-{n}.csv", csv_bytes(n * 1000, 1000))
    database = unique("sales")
    ingestion = s3_ingestion(api, s3_place, database)

    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=120)
    again = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=60)

    assert run["status"] == "success", run
    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (3, 3000)
    assert again["metrics"]["records_ingested"] == 0
    described = api.table(ingestion["id"])
    assert described["row_count"] == 3000
    assert described["location"].startswith(rest_catalog_server.warehouse)
    batch_ids = {s["summary"]["autoloader.batch-id"] for s in described["snapshots"]}

    # PyIceberg with only the catalog's URI and token: the rows, the batch ids, no duplicates.
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    ids = table.scan(selected_fields=("id",)).to_arrow().column("id").to_pylist()
    assert sorted(ids) == list(range(3000))
    assert {s.summary["autoloader.batch-id"] for s in table.snapshots()} == batch_ids
    assert {s.summary["autoloader.run-id"] for s in table.snapshots()} == {run["id"]}

    assert counted_by_spark_knowing_only_the_catalog(spark_iceberg_url, rest_catalog_server, database) == (3000, 3000)


async def test_refused_catalog_credentials_fail_the_run_naming_the_catalog_and_commit_nothing(
    stack: Stack, api: Api, rest_catalog_server: RestCatalogServer, s3_place: S3Place
) -> None:
    server = rest_catalog_server
    secret = "not-the-client-secret-4242"
    catalog = register_rest_catalog(
        api, server, name="locked", credentials={"client_id": server.client_id, "client_secret": secret}
    )
    await s3_place.put("part-0.csv", csv_bytes(0, 10))
    database = unique("sales")
    ingestion = s3_ingestion(api, s3_place, database, catalog="locked")

    check = api.http.post(f"/catalogs/{catalog['id']}/test-connection").json()
    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=120)

    assert check["error_kind"] == "unauthorized"
    assert run["status"] == "failed", run
    errors = " ".join(str(e) for e in run["errors"])
    assert "catalog 'locked'" in errors, run["errors"]
    assert "refused the credentials" in errors, run["errors"]
    assert secret not in errors
    files = api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"]
    assert len(files) == 1
    assert files[0]["state"] != "loaded", files
    assert database not in [".".join(n) for n in outside_client(server).list_namespaces()]


def counted_by_spark_knowing_only_the_catalog(url: str, server: RestCatalogServer, database: str) -> tuple[int, int]:
    """``count(*), count(DISTINCT id)`` of ``<database>.orders`` by a Spark session configured with only the catalog."""
    spark = SparkSession.builder.remote(url).create()
    try:
        for key, value in spark_catalog_conf(server, "theirs").items():
            spark.conf.set(key, value)
        counted = spark.sql(f"SELECT count(*), count(DISTINCT id) FROM theirs.{database}.orders").collect()  # noqa: S608
    finally:
        spark.stop()
    return int(counted[0][0]), int(counted[0][1])


def spark_input_bytes(server: SparkConnectServer) -> int:
    """Bytes Spark's tasks read so far, from the server's own metrics (its UI's REST API)."""
    base = f"http://127.0.0.1:{spark_ui_port(server)}/api/v1/applications"
    total = 0
    for application in httpx.get(base, timeout=10).json():
        stages = httpx.get(f"{base}/{application['id']}/stages", timeout=10).json()
        total += sum(int(stage.get("inputBytes", 0)) for stage in stages)
    return total


async def test_a_cluster_that_reaches_the_bucket_reads_it_itself_and_stages_into_the_registered_catalog(
    stack: Stack,
    api: Api,
    rest_catalog_server: RestCatalogServer,
    s3_place: S3Place,
    spark_iceberg_server: SparkConnectServer,
) -> None:
    register_rest_catalog(api, rest_catalog_server)
    cluster = api.http.post(
        "/clusters",
        json={
            "name": unique("spark"),
            "kind": "spark_connect",
            "url": spark_iceberg_server.url,
            "commit_strategy": "staged",
            "options": {"reads_object_stores": True},
        },
    ).json()
    sizes = []
    for n in range(3):
        data = csv_bytes(n * 1000, 1000)
        sizes.append(len(data))
        await s3_place.put(f"part-{n}.csv", data)
    database = unique("sales")
    ingestion = s3_ingestion(api, s3_place, database, cluster_id=cluster["id"], engine={"read_files": "cluster"})
    through_loader = sum(metric_total(stack, "loader", BYTES_METRIC, read_by=by) for by in ("embedded", "connector"))
    by_cluster, spark_read = metric_total(stack, "loader", BYTES_METRIC, read_by="cluster"), spark_input_bytes(
        spark_iceberg_server
    )

    run = api.wait_run(ingestion["id"], api.run(ingestion["id"]), timeout=180)

    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 3000
    assert run["metrics"]["spark_seconds"] > 0
    # No byte of the files went through the loader; Spark's own tasks read at least all of them.
    assert metric_total(stack, "loader", BYTES_METRIC, read_by="cluster") - by_cluster == sum(sizes)
    assert sum(metric_total(stack, "loader", BYTES_METRIC, read_by=by) for by in ("embedded", "connector")) == (
        through_loader
    )
    assert spark_input_bytes(spark_iceberg_server) - spark_read >= sum(sizes)
    # Spark wrote the data files into the table's location in the catalog's warehouse; the loader committed them.
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    ids = table.scan(selected_fields=("id",)).to_arrow().column("id").to_pylist()
    assert sorted(ids) == list(range(3000))
    data_files = [task.file.file_path for task in table.scan().plan_files()]
    assert data_files
    assert all(path.startswith(f"{rest_catalog_server.warehouse}/") for path in data_files), data_files
    assert {s.summary["autoloader.run-id"] for s in table.snapshots()} == {run["id"]}
    assert counted_by_spark_knowing_only_the_catalog(spark_iceberg_server.url, rest_catalog_server, database) == (
        3000,
        3000,
    )
