"""Session-wide real servers: NATS JetStream and PostgreSQL, started once, on free ports.

PostgreSQL is taken from ``AUTOLOADER_TEST_POSTGRES_URL`` when set, else started once per session
from the PyPI wheel; NATS is started per test (it takes ~60 ms).
Every test uses unique names (databases, tenants, streams) so suites share the servers.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from autoloader_cli.servers import NatsServer, PostgresServer

# Each source type's place fixture (and its server) lives in tests/source_envs/<type>.py.
pytest_plugins = [
    module
    for module in (
        *(f"tests.source_envs.{name}" for name in ("local", "s3", "azure", "gcs", "ftp", "sftp")),
        "tests.spark_env",  # spark_connect_url: a Spark Connect server, started only when requested
        "tests.catalog_env",  # rest_catalog_server: an Iceberg REST catalog, started only when requested
        "tests.spark_auth_proxy",  # spark_auth_proxy: a TLS proxy that checks a bearer token (trusts its cert)
    )
    if importlib.util.find_spec(module) is not None
]


LONG_MARKERS = ("fuzz_long",)
"""Long runs (``just fuzz``): deselected unless ``-m`` names their marker."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the long runs unless the marker expression asks for them (``-m fuzz_long``)."""
    expression = config.getoption("markexpr") or ""
    skipped = [m for m in LONG_MARKERS if m not in expression]
    deselected = [item for item in items if any(item.get_closest_marker(m) for m in skipped)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a NATS JetStream server of one test.

    NATS starts in ~60 ms, and streams cannot share subjects, so each test (or stack) gets its
    own server rather than its own subject prefix.
    """
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL server shared by the session (fsync off: test data is disposable)."""
    server = PostgresServer(tmp_path_factory.mktemp("pg") / "data", fsync=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_server: PostgresServer) -> str:
    """Admin URL of the session's PostgreSQL server."""
    return os.environ.get("AUTOLOADER_TEST_POSTGRES_URL") or postgres_server.url


def unique(prefix: str) -> str:
    """A unique lowercase name for tenants, databases, streams, tables."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def database_url(postgres_admin_url: str) -> str:
    """A fresh, migrated database for one test."""
    from autoloader_db.database import ensure_database, migrate

    name = unique("db")
    await ensure_database(postgres_admin_url, name)
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    await migrate(url)
    return url


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    """A small connection pool on the test's fresh database, closed after the test."""
    from autoloader_db.database import create_pool

    opened = await create_pool(database_url, max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[object]:
    """A connected Bus with the event stream created, on the test's own NATS server."""
    from autoloader_bus.connection import Bus

    connected = await Bus.connect(nats_url, stream="AUTOLOADER", name="test")
    await connected.ensure_stream()
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir with a landing folder for local sources."""
    (tmp_path / "landing").mkdir()
    return tmp_path
