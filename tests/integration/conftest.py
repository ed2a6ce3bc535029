"""Fixtures shared by the loader's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autoloader_core.settings import Settings
from autoloader_loader.embedded import EmbeddedEngine
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark.engine import SparkConnectEngine
from autoloader_loader.spark.session import ClusterTarget, SessionPool


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
