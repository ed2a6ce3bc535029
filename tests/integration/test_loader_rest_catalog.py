"""The embedded engine writing into a user's own Iceberg REST catalog (issue 11), on a real server.

The catalog is Iceberg's REST adapter with its warehouse on the moto S3 server
(``rest_catalog_server`` in tests/catalog_env.py); it checks a bearer token and exchanges OAuth2
client credentials for it. Each test reads the result back with a separate PyIceberg client that
knows only the catalog, not Autoloader.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import msgspec
import pytest

from autoloader_core.errors import TerminalError, TransientError
from autoloader_core.ids import new_id
from autoloader_loader.catalog_checks import warehouse_bucket_exists
from autoloader_loader.catalogs import CatalogConnection, list_namespaces
from autoloader_loader.domain import sqlalchemy_url
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.engine import TableRef
from tests.catalog_env import RestCatalogServer
from tests.integration.conftest import (
    REST_CATALOG,
    engine_settings,
    fresh_database,
    into_rest_catalog,
    outside_client,
    rest_connection,
)
from tests.integration.test_loader_engine import planned, write_csv

pytestmark = pytest.mark.integration

async def test_a_batch_lands_in_the_rest_catalog_and_an_outside_client_sees_rows_and_batch_id(
    rest_engine: EmbeddedEngine, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    database = fresh_database()
    files = [write_csv(landing, f"f{i}.csv", range(i * 1000, (i + 1) * 1000)) for i in range(3)]
    batch = into_rest_catalog(planned(landing, files), database)

    result = await rest_engine.load_batch(batch)

    assert (result.rows, result.table) == (3000, f"{REST_CATALOG}.{database}.orders")
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    rows = table.scan().to_arrow()
    assert (rows.num_rows, len(set(rows.column("id").to_pylist()))) == (3000, 3000)
    assert table.current_snapshot().snapshot_id == result.snapshot_id  # type: ignore[union-attr]
    assert table.current_snapshot().summary["autoloader.batch-id"] == batch.aggregate_id  # type: ignore[union-attr]
    # The catalog put the files in its warehouse on S3, not in the loader's local warehouse.
    assert table.metadata.location.startswith(rest_catalog_server.warehouse)
    assert not list((landing.parent / "warehouse").rglob("*.parquet"))


async def test_a_redelivered_batch_finds_its_commit_in_the_rest_catalog_and_writes_nothing(
    rest_engine: EmbeddedEngine, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    database = fresh_database()
    batch = into_rest_catalog(planned(landing, [write_csv(landing, "a.csv", range(500))]), database)
    first = await rest_engine.load_batch(batch)

    found = await rest_engine.find_committed(batch)
    again = await rest_engine.load_batch(batch)

    assert found is not None
    assert found.snapshot_id == first.snapshot_id
    assert again.already_committed
    assert again.snapshot_id == first.snapshot_id
    table = outside_client(rest_catalog_server).load_table((database, "orders"))
    assert (len(table.snapshots()), table.scan().to_arrow().num_rows) == (1, 500)
    info = await rest_engine.table_info(TableRef("tnt_a", REST_CATALOG, database, "orders"))
    assert info["row_count"] == 500


async def test_another_tenant_with_the_same_catalog_name_writes_into_its_own_builtin_catalog(
    rest_engine: EmbeddedEngine, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    database = fresh_database()
    batch = into_rest_catalog(planned(landing, [write_csv(landing, "b.csv", range(10))], tenant="tnt_b"), database)

    await rest_engine.load_batch(batch)

    assert database not in {ns[0] for ns in outside_client(rest_catalog_server).list_namespaces()}
    assert list((landing.parent / "warehouse" / "tnt_b" / REST_CATALOG).rglob("*.parquet"))


async def test_wrong_credentials_fail_the_batch_naming_the_catalog_and_commit_nothing(
    database_url: str, tmp_path: Path, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    database = fresh_database()
    secret = new_id("wrong")
    wrong = rest_connection(rest_catalog_server, credential=f"{rest_catalog_server.client_id}:{secret}")
    engine = EmbeddedEngine(engine_settings(database_url, tmp_path, landing), catalogs=lambda t, c: wrong)
    batch = into_rest_catalog(planned(landing, [write_csv(landing, "c.csv", range(10))]), database)
    try:
        with pytest.raises(TerminalError) as refused:
            await engine.load_batch(batch)
    finally:
        await engine.close()

    assert f"catalog {REST_CATALOG!r} at {rest_catalog_server.uri} refused the credentials" in str(refused.value)
    assert secret not in str(refused.value)
    assert database not in {ns[0] for ns in outside_client(rest_catalog_server).list_namespaces()}


async def test_an_unreachable_catalog_uri_is_a_transient_error_naming_the_uri(
    database_url: str, tmp_path: Path, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    unknown = rest_connection(rest_catalog_server, uri="http://127.0.0.1:9")  # discard port: nothing listens
    engine = EmbeddedEngine(engine_settings(database_url, tmp_path, landing), catalogs=lambda t, c: unknown)
    batch = into_rest_catalog(planned(landing, [write_csv(landing, "d.csv", range(10))]), fresh_database())
    try:
        with pytest.raises(TransientError) as unreachable:
            await engine.load_batch(batch)
    finally:
        await engine.close()

    assert "http://127.0.0.1:9 is unreachable" in str(unreachable.value)


def test_listing_namespaces_checks_the_rest_connection(rest_catalog_server: RestCatalogServer) -> None:
    database = fresh_database()
    outside_client(rest_catalog_server).create_namespace(database)

    assert database in list_namespaces(rest_connection(rest_catalog_server))
    with pytest.raises(TerminalError, match="refused the credentials"):
        list_namespaces(rest_connection(rest_catalog_server, credential=f"{rest_catalog_server.client_id}:nope"))


async def test_a_warehouse_bucket_that_does_not_exist_fails_the_batch_naming_the_bucket_and_commits_nothing(
    database_url: str, tmp_path: Path, landing: Path, rest_catalog_server: RestCatalogServer
) -> None:
    # A SQL catalog takes its warehouse from the client: a tenant's typo in the bucket reaches the writes.
    bucket = f"missing-{uuid.uuid4().hex[:10]}"
    registered = CatalogConnection(
        name="user_sql",
        type="sql",
        uri=sqlalchemy_url(database_url),
        warehouse=f"s3://{bucket}/warehouse",
        properties=rest_catalog_server.s3_properties(),
    )
    engine = EmbeddedEngine(engine_settings(database_url, tmp_path, landing), catalogs=lambda t, c: registered)
    batch = planned(landing, [write_csv(landing, "e.csv", range(10))])
    batch = msgspec.structs.replace(batch, destination=msgspec.structs.replace(batch.destination, catalog="user_sql"))
    try:
        with pytest.raises(TerminalError) as missing:
            await engine.load_batch(batch)
        found = await engine.find_committed(batch)
    finally:
        await engine.close()

    assert f"the warehouse bucket {bucket!r} does not exist" in str(missing.value)
    assert found is None
    assert warehouse_bucket_exists(registered) is False
    existing = dataclasses.replace(rest_connection(rest_catalog_server), warehouse=rest_catalog_server.warehouse)
    assert warehouse_bucket_exists(existing) is True
