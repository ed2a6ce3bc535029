"""Composition root of the loader service: builds the real engine, consumer and RPC endpoints."""

from __future__ import annotations

import asyncio
import logging

from autoloader_bus.consumer import ConsumerSpec, consume, until_bound
from autoloader_bus.event_store import EventStore
from autoloader_bus.rpc import serve, unsubscribe_all
from autoloader_bus.runtime import ServiceRuntime
from autoloader_contracts.events import BatchPlanned, IngestionDeleted, TableDropRequested
from autoloader_contracts.rpc import (
    PREVIEW_SAMPLE,
    SETTLE_BATCH,
    TEST_CATALOG,
    PreviewSampleRequest,
    SettleBatchRequest,
    TestCatalogRequest,
)
from autoloader_contracts.subjects import LOADER_CONSUMER, events_of, rpc_subject
from autoloader_core.clock import SystemClock
from autoloader_core.crypto import SecretBox
from autoloader_core.settings import Settings
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import close_pool, create_pool
from autoloader_loader.catalog_checks import CatalogChecks
from autoloader_loader.catalog_directory import CatalogDirectory
from autoloader_loader.catalogs import CatalogLookup
from autoloader_loader.engine import LoaderEngine
from autoloader_loader.handlers import LoaderHandlers
from autoloader_loader.previews import Previews
from autoloader_loader.queries import TableQueries
from autoloader_loader.routing import EngineRouter
from autoloader_loader.spark.checks import ClusterChecks
from autoloader_loader.spark.clusters import ClusterDirectory
from autoloader_loader.spark.engine import SparkConnectEngine
from autoloader_loader.spark.session import SessionPool
from autoloader_loader.staging import Stager

log = logging.getLogger(__name__)

SERVICE = "loader"
TABLE_INFO = rpc_subject(SERVICE, "table_info")
TABLE_SAMPLE = rpc_subject(SERVICE, "table_sample")
TEST_CLUSTER = rpc_subject(SERVICE, "test_cluster")


def consumer_spec(settings: Settings) -> ConsumerSpec:
    """The loader's durable consumer: planned batches and deleted ingestions."""
    return ConsumerSpec(
        durable=LOADER_CONSUMER,
        filter_subjects=[events_of(BatchPlanned), events_of(IngestionDeleted), events_of(TableDropRequested)],
        ack_wait_seconds=settings.ack_wait_seconds,
        max_deliver=settings.max_deliver,
    )


def build_engine(settings: Settings, clusters: ClusterDirectory, catalogs: CatalogLookup) -> EngineRouter:
    """The loader's engine: embedded, or Spark Connect for ingestions on a Spark cluster.

    Both write into the tenant's registered catalog when the destination names one (``catalogs``).
    """
    spark = SparkConnectEngine(settings, SessionPool(idle_seconds=settings.spark_idle_seconds), catalogs=catalogs)
    return EngineRouter(spark, clusters.target)


async def body(runtime: ServiceRuntime, engine: LoaderEngine | None = None) -> None:
    """Run the loader until ``runtime.stop`` is set (tests may pass another engine)."""
    settings = runtime.settings
    pool = await runtime.wait_for("PostgreSQL", lambda: create_pool(settings.database_url, max_size=2))
    credential_store = CredentialStore(pool, SecretBox.from_settings(settings))
    credentials = credential_store.resolve
    clusters = ClusterDirectory(EventStore(runtime.bus), credentials)
    catalogs = CatalogDirectory(EventStore(runtime.bus), credentials, asyncio.get_running_loop())
    engine = engine or build_engine(settings, clusters, catalogs)
    stager = Stager(
        scratch_root=settings.data_dir / "staging",
        credentials=credentials,
        allowed_roots=settings.allowed_roots,
    )
    handlers = LoaderHandlers(engine=engine, store=EventStore(runtime.bus), settings=settings, stager=stager)
    queries = TableQueries(engine)
    checks = ClusterChecks(clusters)
    previews = Previews(
        engine=engine,
        credentials=credentials,
        open_sealed=credential_store.open_transient,
        scratch_root=settings.data_dir / "staging",
        allowed_roots=settings.allowed_roots,
        clock=SystemClock(),
    )
    subscriptions = [
        await serve(runtime.bus, TABLE_INFO, queries.table_info, queue=SERVICE),
        await serve(runtime.bus, TABLE_SAMPLE, queries.table_sample, queue=SERVICE),
        await serve(runtime.bus, TEST_CLUSTER, checks.test_cluster, queue=SERVICE),
        await serve(
            runtime.bus,
            TEST_CATALOG,
            CatalogChecks(catalogs).test_catalog,
            queue=SERVICE,
            request_type=TestCatalogRequest,
        ),
        await serve(
            runtime.bus, PREVIEW_SAMPLE, previews.preview_sample, queue=SERVICE, request_type=PreviewSampleRequest
        ),
        await serve(
            runtime.bus, SETTLE_BATCH, handlers.settle_batch, queue=SERVICE, request_type=SettleBatchRequest
        ),
    ]
    bound = asyncio.Event()
    consuming = consume(
        runtime.bus, consumer_spec(settings), handlers.handle, runtime.stop, give_up=handlers.give_up, bound=bound
    )
    consumer = asyncio.create_task(consuming)
    try:
        # The RPC subjects are flushed (serve() returns after the server knows them); serving
        # also needs the durable consumer bound, or a fresh stack reports ready too early.
        if await until_bound(bound, consumer):
            runtime.ready()
            log.info("loader ready", extra={"warehouse": settings.warehouse_uri})
        await consumer
    finally:
        consumer.cancel()
        await unsubscribe_all(subscriptions)
        await engine.close()
        await close_pool(pool)
