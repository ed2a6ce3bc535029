"""Spark Connect sessions: the cluster a batch goes to, and a pool that opens sessions only on demand.

A session is opened the first time a batch for a cluster needs one (never for a run without
files), reused by later batches, and stopped once it has been idle for ``idle_seconds``. A
session that failed with a connection error is discarded instead of being returned, so the next
lease reconnects.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from pyspark.errors import utils as pyspark_error_utils
from pyspark.sql import DataFrame
from pyspark.sql.connect.client.core import SparkConnectClient
from pyspark.sql.connect.client.retries import DefaultPolicy
from pyspark.sql.connect.dataframe import DataFrame as ConnectDataFrame
from pyspark.sql.connect.plan import LocalRelation, LogicalPlan
from pyspark.sql.connect.proto import ConfigRequest, Relation
from pyspark.sql.connect.session import SparkSession
from pyspark.sql.pandas.types import from_arrow_schema

log = logging.getLogger(__name__)

# pyspark's DataFrame-debugging switch is read, on the first use of any pyspark function in the
# process, from whichever session is *active* (the last one created, in any thread): with sessions
# to several clusters that is an RPC to an arbitrary cluster -- possibly a dead one, failing an
# unrelated batch. Call-site capture is a developer aid; settle the switch here, with no RPC.
pyspark_error_utils._enable_debugging_cache = False  # type: ignore[assignment]

# pyspark logs every failed gRPC call with a traceback at ERROR before raising it; the engine
# translates and logs each error once (errors.translate), so its own copy is noise.
logging.getLogger("pyspark.sql.connect.logging").setLevel(logging.CRITICAL)

DEFAULT_IDLE_SECONDS = 300.0
CONNECT_RETRIES = 3
"""Retries of an unavailable server inside one call (pyspark's default waits ~10 minutes)."""
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # PyIceberg (add_files) and PyArrow read microsecond timestamps; INT96 would be refused.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

# pyspark-client 4.2's createDataFrame reads these settings from the server and parses them as
# plain integers. A Spark 4.1 server answers localRelationSizeLimit with a unit ("3221225472b":
# ValueError in the client); a Spark 4.0 server has none of them ([SQL_CONF_NOT_FOUND]) and does
# not know the chunked local relation that the client uses for large data. The values are the
# defaults of Spark 4.1/4.2.
LOCAL_RELATION_CONF = {
    "spark.sql.session.localRelationSizeLimit": str(3 * 2**30),
    "spark.sql.session.localRelationChunkSizeRows": "10000",
    "spark.sql.session.localRelationChunkSizeBytes": str(16 * 2**20),
    "spark.sql.session.localRelationBatchOfChunksSizeBytes": str(2**30),
}
CACHE_THRESHOLD_CONF = "spark.sql.session.localRelationCacheThreshold"
DEFAULT_CACHE_THRESHOLD = 64 * 2**20
"""Spark 4.0's default for ``localRelationCacheThreshold``."""
_BYTE_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30, "t": 2**40}
_legacy_thresholds: weakref.WeakKeyDictionary[SparkSession, int] = weakref.WeakKeyDictionary()
"""Sessions on servers without chunked local relations (Spark 4.0), with the size from which data is cached."""


@dataclass(frozen=True)
class ClusterTarget:
    """Everything needed to reach one Spark Connect cluster and write through it.

    Attributes:
        cluster_id: The registered cluster's id.
        url: ``sc://host:port`` (parameters after ``/;`` are kept, e.g. ``use_ssl=true``).
        token: The bearer token, decrypted (never logged).
        catalog: The catalog tables are written to (``native``) or named after (``staged``).
        commit_strategy: ``staged`` or ``native``.
        options: The cluster's engine options (see :mod:`autoloader_loader.spark.reading`).
    """

    cluster_id: str
    url: str
    token: str | None = field(default=None, repr=False)
    catalog: str = "lake"
    commit_strategy: str = "staged"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pool_key(self) -> str:
        """Sessions are shared only by batches with the same cluster, URL and token."""
        token_hash = hashlib.sha256((self.token or "").encode()).hexdigest()[:16]
        return f"{self.cluster_id}|{self.url}|{token_hash}"


def remote_url(url: str, token: str | None) -> str:
    """The Spark Connect connection string for ``url`` with ``token`` (``sc://h:p/;token=...``).

    A token implies TLS in the Spark Connect client (``use_ssl=true``) unless the URL says otherwise.

    Raises:
        ValueError: ``url`` is not ``sc://host:port``.
    """
    parts = urlsplit(url)
    if parts.scheme != "sc" or not parts.hostname:
        raise ValueError(f"cluster url {url!r} is not sc://host:port")
    if not token:
        return url
    base = url.rstrip("/")
    separator = ";" if "/;" in base else "/;"
    return f"{base}{separator}token={token}"


def open_session(target: ClusterTarget) -> SparkSession:
    """Create a new remote session on ``target`` (no round trip yet: the first query connects)."""
    session = SparkSession.builder.remote(remote_url(target.url, target.token)).create()
    session.client.set_retry_policies(
        [DefaultPolicy(max_retries=CONNECT_RETRIES, initial_backoff=200, max_backoff=2000, jitter=100)]
    )
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    settle_local_relation_conf(session)
    return session


def byte_count(value: str) -> int | None:
    """A Spark size setting (``"3221225472b"``, ``"64m"``, ``"1024"``) in bytes; None when it is not one."""
    found = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", value.lower())
    if found is None or found.group(2) not in _BYTE_UNITS:
        return None
    return int(found.group(1)) * _BYTE_UNITS[found.group(2)]


def settle_local_relation_conf(session: SparkSession) -> None:
    """Give the session the local-relation settings the client parses, in the form it parses.

    On a server that lacks them (Spark 4.0) they are set, the client's chunked upload is switched
    off and :func:`arrow_frame` ships large data the way Spark 4.0 expects (see ``LOCAL_RELATION_CONF``).
    """
    keys = [*LOCAL_RELATION_CONF, CACHE_THRESHOLD_CONF]
    found = _config_options(session.client, keys)
    legacy = found.get("spark.sql.session.localRelationChunkSizeRows") is None
    for key, default in LOCAL_RELATION_CONF.items():
        current = found.get(key)
        if current is None:
            session.conf.set(key, default)
        elif not current.strip().isdigit():
            session.conf.set(key, str(byte_count(current) or int(default)))
    if legacy:
        threshold = byte_count(found.get(CACHE_THRESHOLD_CONF) or "") or DEFAULT_CACHE_THRESHOLD
        _legacy_thresholds[session] = threshold
        session.conf.set(CACHE_THRESHOLD_CONF, str(2**31 - 1))  # the client never takes its chunked path


def _config_options(client: SparkConnectClient, keys: list[str]) -> dict[str, str | None]:
    """The server's values of ``keys``: None for a setting the server does not have (one round trip)."""
    operation = ConfigRequest.Operation(get_option=ConfigRequest.GetOption(keys=keys))
    result = client.config(operation)
    return dict.fromkeys(keys) | {key: value for key, value in result.pairs if value is not None}


class _CachedLocalRelation(LogicalPlan):
    """A local relation uploaded as an artifact and named by its hash: how Spark 4.0 takes large data."""

    def __init__(self, artifact_hash: str) -> None:
        super().__init__(None)
        self._hash = artifact_hash

    def plan(self, session: SparkConnectClient) -> Relation:
        plan = self._create_proto_relation()
        plan.cached_local_relation.hash = self._hash
        return plan


def arrow_frame(session: SparkSession, data: pa.Table) -> DataFrame:
    """``data`` as a DataFrame of ``session`` (timestamps without a zone stay without one).

    On a Spark 4.0 server data from its cache threshold on (64 MiB by default) is uploaded as an
    artifact and referenced by hash, as Spark 4.0's own client does: sent inline it could exceed
    the server's gRPC message limit, and the 4.2 client's chunked upload is unknown to 4.0.
    """
    frame = session.createDataFrame(data, schema=from_arrow_schema(data.schema, prefer_timestamp_ntz=True))
    threshold = _legacy_thresholds.get(session)
    local = getattr(frame, "_plan", None)
    if threshold is None or data.nbytes < threshold or not isinstance(local, LocalRelation):
        return frame
    relation = local.plan(session.client).local_relation
    artifact_hash = session.client.cache_artifact(relation.SerializeToString())
    return ConnectDataFrame(_CachedLocalRelation(artifact_hash), session)


@dataclass
class _Idle:
    session: SparkSession
    since: float


@dataclass(frozen=True)
class PoolStats:
    """Counters of a :class:`SessionPool` (for tests, logs and metrics)."""

    opened: int
    closed: int
    idle: int
    leased: int


class SessionPool:
    """Spark sessions per cluster, opened on first use and stopped after ``idle_seconds`` unused.

    Thread-safe: batches run in worker threads. A background thread closes idle sessions; it
    runs only while the pool holds idle sessions.

    Args:
        idle_seconds: How long an unused session stays open.
        opener: Creates a session for a target (tests may count or wrap it).
    """

    def __init__(
        self,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        opener: Callable[[ClusterTarget], SparkSession] = open_session,
    ) -> None:
        self._idle_seconds = idle_seconds
        self._opener = opener
        self._idle: dict[str, list[_Idle]] = {}
        self._leased = 0
        self._opened = 0
        self._closed = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._reaper: threading.Thread | None = None
        self._shut = False

    @property
    def stats(self) -> PoolStats:
        """Sessions opened and closed so far, idle now and in use now."""
        with self._lock:
            idle = sum(len(v) for v in self._idle.values())
            return PoolStats(opened=self._opened, closed=self._closed, idle=idle, leased=self._leased)

    @contextmanager
    def lease(self, target: ClusterTarget, *, keep_on: Callable[[BaseException], bool]) -> Iterator[SparkSession]:
        """Lend a session of ``target``'s cluster for one unit of work.

        Args:
            target: The cluster.
            keep_on: Whether the session is still good after the work raised this error (an
                analysis error is; a dropped connection is not, and the session is stopped).
        """
        session = self._take(target)
        # pyspark helpers that need "the" session ask for this thread's active one: make it the
        # leased session (worker threads serve batches of many clusters), and forget it after.
        SparkSession._active_session.session = session
        try:
            yield session
        except BaseException as exc:
            if keep_on(exc):
                self._give_back(target, session)
            else:
                self._stop(session, reason=f"{type(exc).__name__}")
                with self._lock:
                    self._leased -= 1
            raise
        finally:
            SparkSession._active_session.session = None
        self._give_back(target, session)

    def reap(self, now: float | None = None) -> int:
        """Stop sessions idle for longer than ``idle_seconds``; return how many were stopped."""
        now = time.monotonic() if now is None else now
        expired: list[SparkSession] = []
        with self._lock:
            for key, idle in list(self._idle.items()):
                keep = [i for i in idle if now - i.since < self._idle_seconds]
                expired += [i.session for i in idle if now - i.since >= self._idle_seconds]
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
        for session in expired:
            self._stop(session, reason="idle")
        return len(expired)

    def close(self) -> None:
        """Stop every idle session and the reaper (leased sessions are stopped when returned)."""
        with self._lock:
            self._shut = True
            sessions = [i.session for idle in self._idle.values() for i in idle]
            self._idle.clear()
        self._wake.set()
        for session in sessions:
            self._stop(session, reason="shutdown")

    def _take(self, target: ClusterTarget) -> SparkSession:
        with self._lock:
            idle = self._idle.get(target.pool_key)
            if idle:
                self._leased += 1
                return idle.pop().session
        session = self._opener(target)
        with self._lock:
            self._opened += 1
            self._leased += 1
        log.info("spark session opened", extra={"cluster_id": target.cluster_id})
        return session

    def _give_back(self, target: ClusterTarget, session: SparkSession) -> None:
        with self._lock:
            self._leased -= 1
            if not self._shut:
                self._idle.setdefault(target.pool_key, []).append(_Idle(session, time.monotonic()))
                self._ensure_reaper()
                return
        self._stop(session, reason="shutdown")

    def _stop(self, session: SparkSession, *, reason: str) -> None:
        try:
            session.stop()
        except Exception as exc:  # the server may already be gone; the session is dropped either way
            log.debug("stopping a spark session failed", extra={"error": str(exc)})
        with self._lock:
            self._closed += 1
        log.info("spark session closed", extra={"reason": reason})

    def _ensure_reaper(self) -> None:
        # Called with the lock held.
        if self._reaper is not None and self._reaper.is_alive():
            return
        self._reaper = threading.Thread(target=self._reap_loop, name="spark-session-reaper", daemon=True)
        self._reaper.start()

    def _reap_loop(self) -> None:
        interval = max(0.05, min(self._idle_seconds / 4, 5.0))
        while not self._wake.wait(interval):
            self.reap()
            with self._lock:
                if not self._idle:
                    self._reaper = None
                    return
