"""Test a Spark Connect cluster: reachable, token accepted, supported version, catalogs, round trip.

The probe opens a fresh session (never one from the pool: a pooled session would hide a changed
URL or token), asks a few cheap questions and stops the session again. It is blocking; the loader
runs it in a worker thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyspark
from pyspark.sql.connect.session import SparkSession

from autoloader_loader.spark.errors import endpoint, error_kind, redact, translate
from autoloader_loader.spark.session import ClusterTarget, open_session

MIN_SERVER = (3, 5)
"""Spark Connect exists as a stable server from Spark 3.5 on."""
ROUND_TRIP_ROWS = 10
UNREACHABLE = {"dns", "refused", "tls", "timeout", "unavailable"}
_PROBE_KINDS = {"dns", "refused", "tls", "unauthenticated", "timeout"}


@dataclass
class ProbeReport:
    """What a cluster probe found.

    Attributes:
        reachable: A Spark Connect server answered at the URL.
        authenticated: The server accepted the token (None: never got that far).
        spark_version: The server's Spark version.
        catalogs: The catalogs the session can see.
        catalog_found: Whether the cluster's catalog is among them (``native`` only, else None).
        round_trip_ms: Milliseconds of a ``range(10).count()`` round trip.
        message: Plain language: what works, or what failed and what to fix.
        error_kind: dns, refused, tls, unauthenticated, version, timeout, other; None when all is well.
    """

    reachable: bool = False
    authenticated: bool | None = None
    spark_version: str | None = None
    catalogs: list[str] = field(default_factory=list)
    catalog_found: bool | None = None
    round_trip_ms: float | None = None
    message: str = ""
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return self.error_kind is None

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able fields (the loader's RPC answer)."""
        return asdict(self)


def parse_version(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a Spark version such as ``4.2.0`` or ``3.5.1-databricks``.

    Raises:
        ValueError: ``version`` does not start with ``major.minor``.
    """
    parts = version.strip().split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        raise ValueError(f"not a spark version: {version!r}")
    minor = "".join(ch for ch in parts[1] if ch.isdigit()) if parts[1][:1].isdigit() else ""
    if not minor:
        raise ValueError(f"not a spark version: {version!r}")
    return int(parts[0]), int(minor)


def version_problem(server: str, client: str) -> str | None:
    """Why a Spark Connect client of version ``client`` cannot use a server of version ``server`` (None: it can).

    Policy: the server must be Spark 3.5 or newer (the first release with a stable Connect
    server) and have the client's major version (the Connect protocol changed between 3.x and
    4.x); any minor of the same major is accepted.
    """
    try:
        server_version, client_version = parse_version(server), parse_version(client)
    except ValueError:
        return f"the cluster reports spark version {server!r}, which is not a version this loader understands"
    if server_version < MIN_SERVER:
        return (
            f"the cluster runs spark {server}; spark connect needs spark 3.5 or newer (the loader's client is {client})"
        )
    if server_version[0] != client_version[0]:
        return (
            f"the cluster runs spark {server} but the loader's spark connect client is {client}; "
            f"use a spark {client_version[0]}.x cluster"
        )
    return None


def probe(target: ClusterTarget, timeout_seconds: float) -> ProbeReport:
    """Check ``target`` end to end; never raises (failures are in the report).

    Runs the checks in a daemon thread so a hung server cannot hold the caller longer than
    ``timeout_seconds``; that thread still stops its session when the server answers at last.
    """
    result: list[ProbeReport] = []
    worker = threading.Thread(target=lambda: result.append(_checked(target)), name="spark-probe", daemon=True)
    worker.start()
    worker.join(timeout_seconds)
    if result:
        return result[0]
    where = endpoint(target.url)
    return ProbeReport(
        message=f"spark connect at {where} did not answer within {timeout_seconds:g} s",
        error_kind="timeout",
    )


def _checked(target: ClusterTarget) -> ProbeReport:
    report = ProbeReport()
    try:
        _run(target, report)
    except Exception as exc:  # every failure becomes part of the report
        _fail(report, exc, target.url)
    return report


def _run(target: ClusterTarget, report: ProbeReport) -> None:
    session = open_session(target)  # sets session conf: the first round trip
    try:
        report.reachable, report.authenticated = True, True
        report.spark_version = session.version
        problem = version_problem(report.spark_version, pyspark.__version__)
        if problem:
            report.message, report.error_kind = problem, "version"
            return
        report.catalogs = sorted(c.name for c in session.catalog.listCatalogs())
        if target.commit_strategy == "native":
            report.catalog_found = target.catalog in report.catalogs
        report.round_trip_ms = _round_trip(session)
        report.message = _success(target, report)
    finally:
        _stop(session)


def _round_trip(session: SparkSession) -> float:
    started = time.perf_counter()
    count = session.range(ROUND_TRIP_ROWS).count()
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if count != ROUND_TRIP_ROWS:
        raise RuntimeError(f"range({ROUND_TRIP_ROWS}).count() returned {count}")
    return elapsed


def _success(target: ClusterTarget, report: ProbeReport) -> str:
    message = (
        f"connected to spark {report.spark_version} at {endpoint(target.url)}; "
        f"round trip {report.round_trip_ms:g} ms; catalogs: {', '.join(report.catalogs) or 'none'}"
    )
    if report.catalog_found is False:
        message += f"; catalog {target.catalog!r} is not visible to the session (native commits need it)"
    return message


def _fail(report: ProbeReport, exc: BaseException, url: str) -> None:
    kind = error_kind(exc)
    report.error_kind = kind if kind in _PROBE_KINDS else "other"
    report.message = redact(translate(exc, url=url).message)
    if kind in UNREACHABLE:
        report.reachable, report.authenticated = False, None
    elif kind == "unauthenticated":
        report.reachable, report.authenticated = True, False
    else:
        # A failure after the first round trip: the server answered and took the token.
        report.reachable = True
        report.authenticated = True if report.spark_version else report.authenticated


def _stop(session: SparkSession) -> None:
    # The probe's result does not depend on a clean goodbye.
    with contextlib.suppress(Exception):
        session.stop()
