"""Fixtures shared by the loader's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from pyiceberg.catalog import Catalog, load_catalog

from autoloader_contracts.events import BatchPlanned
from autoloader_core.settings import Settings
from autoloader_loader.catalogs import CatalogConnection
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark.engine import SparkConnectEngine
from autoloader_loader.spark.session import ClusterTarget, SessionPool
from tests.catalog_env import RestCatalogServer


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """An allowed local root with nothing in it."""
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def engine_settings(database_url: str, tmp_path: Path, landing: Path) -> Settings:
    """Settings of a loader reading ``landing`` and writing a temp warehouse."""
    return Settings(database_url=database_url, local_roots=(landing,), warehouse=(tmp_path / "warehouse").as_uri())


@pytest.fixture
async def engine(database_url: str, tmp_path: Path, landing: Path) -> AsyncIterator[EmbeddedEngine]:
    """An embedded engine on the test's database, reading from ``landing``, writing a temp warehouse."""
    built = EmbeddedEngine(engine_settings(database_url, tmp_path, landing))
    yield built
    await built.close()


def spark_router_on(settings: Settings, target: ClusterTarget, pool: SessionPool | None = None) -> EngineRouter:
    """A router sending every batch to ``target``."""

    async def resolve(tenant_id: str, cluster_id: str | None) -> ClusterTarget:
        return target

    return EngineRouter(SparkConnectEngine(settings, pool or SessionPool()), resolve)


@pytest.fixture
async def spark_router(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str
) -> AsyncIterator[EngineRouter]:
    """A router sending every batch to the session's Spark Connect server; the loader streams the files."""
    router = spark_router_on(
        engine_settings(database_url, tmp_path, landing), ClusterTarget(cluster_id="clu_test", url=spark_connect_url)
    )
    yield router
    await router.close()


@pytest.fixture
async def spark_reading_router(
    database_url: str, tmp_path: Path, landing: Path, spark_connect_url: str
) -> AsyncIterator[EngineRouter]:
    """Like ``spark_router``, but the cluster shares ``landing`` and reads the files itself where it can."""
    target = ClusterTarget(cluster_id="clu_test", url=spark_connect_url, options={"shared_paths": [str(landing)]})
    router = spark_router_on(engine_settings(database_url, tmp_path, landing), target)
    yield router
    await router.close()


@pytest.fixture(params=["embedded", "spark", "spark_reads"])
def any_engine(request: pytest.FixtureRequest) -> EmbeddedEngine | EngineRouter:
    """The engine behaviour suite runs once per engine: embedded, Spark fed by the loader, Spark reading."""
    names = {"embedded": "engine", "spark": "spark_router", "spark_reads": "spark_reading_router"}
    built: EmbeddedEngine | EngineRouter = request.getfixturevalue(names[request.param])
    return built


def native_target(url: str, cluster_id: str = "clu_native") -> ClusterTarget:
    """A cluster registered with the ``native`` strategy and the Iceberg server's catalog ``lake``."""
    return ClusterTarget(cluster_id=cluster_id, url=url, catalog="lake", commit_strategy="native")


@pytest.fixture
async def native_router(
    database_url: str, tmp_path: Path, landing: Path, spark_iceberg_url: str
) -> AsyncIterator[EngineRouter]:
    """A router sending every batch to the session's Spark server with Iceberg, ``native`` strategy."""
    router = spark_router_on(engine_settings(database_url, tmp_path, landing), native_target(spark_iceberg_url))
    yield router
    await router.close()


# --- a tenant's own REST catalog (issue 11) -------------------------------------------------

REST_CATALOG = "rest_catalog"


def rest_connection(server: RestCatalogServer, **changes: str) -> CatalogConnection:
    """The server as a tenant would register it: OAuth2 client credentials, the warehouse's S3 settings."""
    uri = changes.pop("uri", server.uri)
    properties = {"credential": f"{server.client_id}:{server.client_secret}", **server.s3_properties(), **changes}
    return CatalogConnection(name=REST_CATALOG, type="rest", uri=uri, properties=properties)


def outside_client(server: RestCatalogServer) -> Catalog:
    """A PyIceberg client that knows only the catalog (token auth), not Autoloader."""
    return load_catalog("outside", type="rest", **server.client_properties())


def into_rest_catalog(batch: BatchPlanned, database: str) -> BatchPlanned:
    """``batch`` with its destination moved to ``rest_catalog.<database>.orders``."""
    destination = msgspec.structs.replace(batch.destination, catalog=REST_CATALOG, database=database, table="orders")
    return msgspec.structs.replace(batch, destination=destination)


@pytest.fixture
async def rest_engine(
    database_url: str, tmp_path: Path, landing: Path, rest_catalog_server: RestCatalogServer
) -> AsyncIterator[EmbeddedEngine]:
    """An embedded engine whose tenant ``tnt_a`` registered the REST catalog as ``rest_catalog``."""
    registered = rest_connection(rest_catalog_server)

    def lookup(tenant_id: str, catalog: str) -> CatalogConnection | None:
        return registered if (tenant_id, catalog) == ("tnt_a", REST_CATALOG) else None

    engine = EmbeddedEngine(engine_settings(database_url, tmp_path, landing), catalogs=lookup)
    yield engine
    await engine.close()


def fresh_database() -> str:
    """A namespace no other test uses (the REST catalog is shared by the session)."""
    return f"sales_{uuid.uuid4().hex[:8]}"
