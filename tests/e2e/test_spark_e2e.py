"""Ingestions on a Spark Connect cluster, end to end through the HTTP API against a real local Spark server.

The cluster is registered with ``POST /api/v1/clusters``, mostly with the ``staged`` commit strategy
(Spark writes the Parquet files, the loader commits them) on the session's Spark 4.2 server. What the
API does not show is checked from the outside: the Spark server's log (which sessions it saw) and
the warehouse folder (who wrote the data files). The ``native`` test registers the session's Spark
server with Iceberg (``spark_iceberg_url``) and checks the cluster's own catalog.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from autoloader_cli.stack import Stack
from autoloader_loader.spark.session import ClusterTarget, open_session
from tests.catalog_env import RestCatalogServer
from tests.conftest import unique
from tests.e2e.conftest import Api, new_tenant, write_csv
from tests.integration.conftest import outside_client
from tests.source_envs.ftp import FtpPlace
from tests.source_envs.s3 import S3Place
from tests.spark_env import REST_CATALOG_IN_SPARK, SparkConnectServer

pytestmark = pytest.mark.e2e

SESSION_LINE = re.compile(r"SessionHolder: Session with userId: .* and sessionId: ([0-9a-f-]{36}) ")
"""What the Spark Connect server logs (INFO, its default level) each time a session is used."""
STAGING_GLOB = "data/autoloader/*"
"""Where the ``staged`` strategy has Spark write a batch's files (one folder per batch id)."""
def register_spark(api: Api, url: str, *, commit_strategy: str = "staged", **options: Any) -> dict[str, Any]:
    """Register the Spark Connect server as a cluster of the tenant (catalog ``lake``)."""
    body = {
        "name": unique("spark"),
        "kind": "spark_connect",
        "url": url,
        "commit_strategy": commit_strategy,
        "options": options,
    }
    response = api.http.post("/clusters", json=body)
    assert response.status_code == 201, response.text
    cluster: dict[str, Any] = response.json()
    assert (cluster["kind"], cluster["url"], cluster["commit_strategy"]) == ("spark_connect", url, commit_strategy)
    return cluster


def session_uses(server: SparkConnectServer) -> list[str]:
    """The session id of every session use the Spark server has logged so far."""
    return SESSION_LINE.findall(server.log.read_text(errors="replace"))


def server_sessions(server: SparkConnectServer) -> set[str]:
    """Ids of every session the Spark server has seen so far (a new id is a new session)."""
    return set(session_uses(server))


def run_ok(api: Api, ingestion_id: str) -> dict[str, Any]:
    run = api.wait_run(ingestion_id, api.run(ingestion_id), timeout=120)
    assert run["status"] == "success", run
    return run


def sorted_ids(api: Api, ingestion_id: str) -> list[int]:
    return sorted(row["id"] for row in api.sample(ingestion_id, limit=10_000, columns="id"))


def spark_written_batches(data_dir: Path, table: str) -> set[str]:
    """Batch ids whose data files Spark wrote into ``table``'s staging folders in the stack's warehouse."""
    folders = [p for p in data_dir.rglob(table) if p.is_dir()]
    return {f.name for folder in folders for f in folder.glob(STAGING_GLOB) if any(f.rglob("*.parquet"))}


def create_remote_ingestion(api: Api, place: FtpPlace | S3Place, *, cluster_id: str, table: str) -> dict[str, Any]:
    """An ingestion of ``place``'s CSV files into ``lake.e2e.<table>`` on the cluster (credentials sent inline)."""
    source: dict[str, Any] = msgspec.to_builtins(place.spec(pattern="*.csv"))
    source.pop("credential_ref", None)
    source["credentials"] = place.credentials
    return api.create(
        {
            "name": table,
            "source": source,
            "format": {"type": "csv"},
            "destination": {"catalog": "lake", "database": "e2e", "table": table},
            "cluster_id": cluster_id,
        }
    )


def assert_written_by_spark(api: Api, stack: Stack, ingestion_id: str, table: str, run: dict[str, Any]) -> None:
    """The run's Spark time is recorded and every snapshot's files came from Spark's staging folders."""
    assert_spark_seconds(run)
    batch_ids = {s["summary"]["autoloader.batch-id"] for s in api.table(ingestion_id)["snapshots"]}
    assert spark_written_batches(stack.data_dir, table) == batch_ids


def assert_spark_seconds(run: dict[str, Any]) -> None:
    """Run metrics carry the Spark-side time of the run's batches."""
    assert "spark_seconds" in run["metrics"], f"run metrics lack spark_seconds: {run['metrics']}"
    assert run["metrics"]["spark_seconds"] > 0, run["metrics"]


def test_folder_source_loads_through_spark_with_batch_properties(
    stack: Stack, api: Api, spark_connect_server: SparkConnectServer
) -> None:
    cluster = register_spark(api, spark_connect_server.url)
    folder = stack.landing_dir / unique("spark")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
    table_name = unique("spark")
    ingestion = api.create(api.ingestion_body(folder, table=table_name, cluster_id=cluster["id"]))
    assert ingestion["cluster_id"] == cluster["id"]
    uses_before = len(session_uses(spark_connect_server))

    run = run_ok(api, ingestion["id"])

    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (3, 3000)
    assert_spark_seconds(run)
    table = api.table(ingestion["id"])
    assert table["row_count"] == 3000
    assert sorted_ids(api, ingestion["id"]) == list(range(3000))
    summaries = [s["summary"] for s in table["snapshots"]]
    assert summaries, table
    assert {s["autoloader.run-id"] for s in summaries} == {run["id"]}
    assert {s["autoloader.ingestion-id"] for s in summaries} == {ingestion["id"]}
    batch_ids = {s["autoloader.batch-id"] for s in summaries}
    files = api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"]
    assert sorted((f["path"], f["state"], f["rows"]) for f in files) == [
        (f"part-{n}.csv", "loaded", 1000) for n in range(3)
    ]
    assert {f["batch_id"] for f in files} == batch_ids
    # The data files are Spark's: written into the batch's staging folder, on a session the server saw.
    assert spark_written_batches(stack.data_dir, table_name) == batch_ids
    assert len(session_uses(spark_connect_server)) > uses_before, "the Spark server logged no session use"


def test_ftp_files_reach_the_cluster_through_the_connector(
    stack: Stack, api: Api, spark_connect_url: str, ftp_place: FtpPlace
) -> None:
    cluster = register_spark(api, spark_connect_url)
    for n in range(2):
        write_csv(ftp_place.folder / f"part-{n}.csv", n * 500, 500)
    table_name = unique("sparkftp")
    # engine.read_files "auto": the cluster cannot reach an FTP server, so the loader streams the files.
    ingestion = create_remote_ingestion(api, ftp_place, cluster_id=cluster["id"], table=table_name)

    run = run_ok(api, ingestion["id"])

    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (2, 1000)
    assert api.table(ingestion["id"])["row_count"] == 1000
    assert sorted_ids(api, ingestion["id"]) == list(range(1000))
    assert_written_by_spark(api, stack, ingestion["id"], table_name, run)


def test_a_cluster_sharing_the_landing_folder_reads_the_files_itself(
    stack: Stack, api: Api, spark_connect_server: SparkConnectServer
) -> None:
    cluster = register_spark(api, spark_connect_server.url, shared_paths=[str(stack.landing_dir)])
    folder = stack.landing_dir / unique("shared")
    for n in range(2):
        write_csv(folder / f"part {n}.csv", n * 700, 700)
    table_name = unique("shared")
    ingestion = api.create(api.ingestion_body(folder, table=table_name, cluster_id=cluster["id"]))

    run = run_ok(api, ingestion["id"])

    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (2, 1400)
    assert sorted_ids(api, ingestion["id"]) == list(range(1400))
    assert_written_by_spark(api, stack, ingestion["id"], table_name, run)


async def test_a_cluster_without_the_object_store_file_system_falls_back_to_the_connector(
    stack: Stack, api: Api, spark_connect_url: str, s3_place: S3Place
) -> None:
    # The test server has no hadoop-aws: Spark refuses s3a://, the loader copies the files and streams them.
    cluster = register_spark(api, spark_connect_url, reads_object_stores=True)
    for n in range(2):
        rows = "".join(f"{i},n{i}\n" for i in range(n * 300, n * 300 + 300))
        await s3_place.put(f"part-{n}.csv", f"id,name\n{rows}".encode())
    table_name = unique("sparks3")
    ingestion = create_remote_ingestion(api, s3_place, cluster_id=cluster["id"], table=table_name)

    run = run_ok(api, ingestion["id"])

    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (2, 600)
    assert sorted_ids(api, ingestion["id"]) == list(range(600))
    assert_written_by_spark(api, stack, ingestion["id"], table_name, run)


def test_cluster_read_files_is_refused_for_an_ftp_source(stack: Stack, api: Api, spark_connect_url: str) -> None:
    cluster = register_spark(api, spark_connect_url)
    body = {
        "name": unique("t"),
        "source": {"type": "ftp", "path": "ftp://127.0.0.1:21/in/", "credentials": {"username": "u", "password": "p"}},
        "format": {"type": "csv"},
        "destination": {"catalog": "lake", "database": "e2e", "table": unique("t")},
        "cluster_id": cluster["id"],
        "engine": {"read_files": "cluster"},
    }
    response = api.http.post("/ingestions", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["engine.read_files"]


def test_a_run_without_new_files_opens_no_spark_session(
    stack: Stack, api: Api, spark_connect_server: SparkConnectServer
) -> None:
    cluster = register_spark(api, spark_connect_server.url)
    folder = stack.landing_dir / unique("noop")
    write_csv(folder / "only.csv", 0, 10)
    ingestion = api.create(api.ingestion_body(folder, table=unique("noop"), cluster_id=cluster["id"]))
    uses_before = len(session_uses(spark_connect_server))
    first = run_ok(api, ingestion["id"])
    assert first["metrics"]["records_ingested"] == 10
    # The first run's batch shows in the server log, so the log can tell whether the next run used Spark.
    assert len(session_uses(spark_connect_server)) > uses_before, "the Spark server logged no session use"
    seen = server_sessions(spark_connect_server)

    second = run_ok(api, ingestion["id"])
    time.sleep(1.0)  # let the server flush any log line a session would have caused

    assert second["metrics"]["files_processed"] == 0
    assert second["metrics"].get("spark_seconds", 0.0) == 0.0
    assert server_sessions(spark_connect_server) == seen
    assert api.table(ingestion["id"])["row_count"] == 10


def test_native_commit_lands_in_the_clusters_catalog_once(stack: Stack, api: Api, spark_iceberg_url: str) -> None:
    cluster = register_spark(api, spark_iceberg_url, commit_strategy="native")
    folder = stack.landing_dir / unique("native")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
    table_name = unique("native")
    ingestion = api.create(api.ingestion_body(folder, table=table_name, cluster_id=cluster["id"]))

    run = run_ok(api, ingestion["id"])
    again = run_ok(api, ingestion["id"])

    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (3, 3000)
    assert_spark_seconds(run)
    assert again["metrics"]["files_processed"] == 0
    files = api.http.get(f"/ingestions/{ingestion['id']}/files").json()["items"]
    assert sorted((f["path"], f["state"], f["rows"]) for f in files) == [
        (f"part-{n}.csv", "loaded", 1000) for n in range(3)
    ]
    batch_ids = {f["batch_id"] for f in files}
    # The API shows the table from the cluster's catalog ...
    table = api.table(ingestion["id"])
    assert table["identifier"] == f"lake.e2e.{table_name}"
    assert table["row_count"] == 3000
    assert {s["summary"]["autoloader.batch-id"] for s in table["snapshots"]} == batch_ids
    assert sorted_ids(api, ingestion["id"]) == list(range(3000))
    # ... and the cluster, asked directly, holds every row once, one snapshot per batch.
    name = f"lake.e2e.{table_name}"
    session = open_session(ClusterTarget(cluster_id=cluster["id"], url=spark_iceberg_url))
    try:
        counted = session.sql(f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {name}").collect()[0]  # noqa: S608
        summaries = [r[0] for r in session.sql(f"SELECT summary FROM {name}.snapshots").collect()]  # noqa: S608
    finally:
        session.stop()
    assert tuple(counted) == (3000, 3000, 0, 2999)
    assert {s["autoloader.run-id"] for s in summaries} == {run["id"]}
    assert sorted(s["autoloader.batch-id"] for s in summaries) == sorted(batch_ids)
    # Nothing went to the loader's own warehouse.
    assert not [p for p in stack.data_dir.rglob(table_name) if p.is_dir()]


def test_loader_crash_after_a_spark_commit_does_not_duplicate_rows(
    crashing_stack: Stack, spark_connect_server: SparkConnectServer
) -> None:
    arm_loader_fault(crashing_stack)
    api = new_tenant(crashing_stack)
    try:
        _crash_and_recover(crashing_stack, api, spark_connect_server)
    finally:
        api.http.close()


def _crash_and_recover(crashing_stack: Stack, api: Api, server: SparkConnectServer) -> None:
    cluster = register_spark(api, server.url)
    folder = crashing_stack.landing_dir / unique("crash")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
    table_name = unique("sparkcrash")
    ingestion = api.create(api.ingestion_body(folder, table=table_name, cluster_id=cluster["id"]))
    run_id = api.run(ingestion["id"])

    wait_for_loader_death(crashing_stack)
    # Committed through Spark but unacknowledged: the run is not done (the table is the loader's to show).
    assert api.http.get(f"/ingestions/{ingestion['id']}/runs/{run_id}").json()["status"] == "running"
    sessions = server_sessions(server)

    crashing_stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": ""})
    run = api.wait_run(ingestion["id"], run_id, timeout=120)

    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 3000
    table = api.table(ingestion["id"])
    assert table["row_count"] == 3000
    assert len(table["snapshots"]) == 1
    assert sorted_ids(api, ingestion["id"]) == list(range(3000))
    # The redelivered batch was found in the table by its batch id: no Spark session was needed.
    time.sleep(1.0)
    assert server_sessions(server) == sessions
    assert spark_written_batches(crashing_stack.data_dir, table_name) == {
        table["snapshots"][0]["summary"]["autoloader.batch-id"]
    }


def test_loader_crash_after_a_native_commit_into_the_rest_catalog_does_not_duplicate_rows(
    crashing_stack: Stack, spark_iceberg_url: str, rest_catalog_server: RestCatalogServer
) -> None:
    # The cluster's catalog 'rest' is the REST catalog server: the commit is the cluster's, the crash the loader's.
    arm_loader_fault(crashing_stack)
    api = new_tenant(crashing_stack)
    try:
        cluster = register_spark(api, spark_iceberg_url, commit_strategy="native")
        changed = api.http.put(f"/clusters/{cluster['id']}", json={"catalog": REST_CATALOG_IN_SPARK})
        assert changed.status_code == 200, changed.text
        folder = crashing_stack.landing_dir / unique("nativecrash")
        for n in range(3):
            write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
        database = unique("sales")
        body = api.ingestion_body(folder, table="orders", cluster_id=cluster["id"])
        ingestion = api.create({**body, "destination": {"catalog": "lake", "database": database, "table": "orders"}})
        run_id = api.run(ingestion["id"])
        wait_for_loader_death(crashing_stack)
        assert api.http.get(f"/ingestions/{ingestion['id']}/runs/{run_id}").json()["status"] == "running"
        committed = outside_client(rest_catalog_server).load_table((database, "orders"))
        assert len(committed.snapshots()) == 1  # the cluster committed before the loader died

        crashing_stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": ""})
        run = api.wait_run(ingestion["id"], run_id, timeout=180)
    finally:
        api.http.close()

    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 3000
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    ids = table.scan(selected_fields=("id",)).to_arrow().column("id").to_pylist()
    assert sorted(ids) == list(range(3000))
    assert [s.snapshot_id for s in table.snapshots()] == [s.snapshot_id for s in committed.snapshots()]


def arm_loader_fault(crashing_stack: Stack) -> None:
    """A fresh loader with the stack's fault point (an earlier crash test restarted it without one)."""
    crashing_stack.kill_service("loader")
    crashing_stack.start_service("loader")


def wait_for_loader_death(crashing_stack: Stack) -> None:
    """Until the loader died at its fault point (after the commit, before the ack)."""
    deadline = time.monotonic() + 180
    while "loader" not in crashing_stack.dead_services():
        assert time.monotonic() < deadline, "the loader never reached its fault point"
        time.sleep(0.2)
