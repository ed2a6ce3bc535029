"""Cluster probe and error translation against real servers: the local Spark Connect server, a TLS
proxy that checks a bearer token, a port nobody listens on, a host that does not resolve, and a
socket that accepts connections but never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pyspark.errors import PySparkException

from autoloader_cli.servers import free_port
from autoloader_core.errors import TerminalError, TransientError
from autoloader_loader.spark.errors import keeps_session, translate
from autoloader_loader.spark.probe import probe
from autoloader_loader.spark.session import ClusterTarget, open_session

pytestmark = [
    pytest.mark.integration,
    # pyspark warns when its (bounded) connect retries run out; pytest would turn that into the error.
    pytest.mark.filterwarnings("ignore:\\[RETRIES_EXCEEDED\\]:UserWarning"),
]

TIMEOUT = 30.0
FAST = 8.0
"""open_session's bounded retries (3, backoff <= 2 s) give up on a dead endpoint in ~3 s."""


def target(url: str, *, token: str | None = None, **extra: str) -> ClusterTarget:
    return ClusterTarget(cluster_id="cls_test", url=url, token=token, **extra)  # type: ignore[arg-type]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose socket accepts TCP connections but never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_probe_reports_version_catalogs_and_round_trip(spark_connect_url: str) -> None:
    report = probe(target(spark_connect_url, commit_strategy="native", catalog="spark_catalog"), TIMEOUT)

    assert report.error_kind is None, report.message
    assert (report.reachable, report.authenticated) == (True, True)
    assert report.spark_version is not None
    assert report.spark_version.startswith("4.2.")
    assert "spark_catalog" in report.catalogs
    assert report.catalog_found is True
    assert report.round_trip_ms is not None
    assert 0 < report.round_trip_ms < 20_000
    assert report.message.startswith(f"connected to spark {report.spark_version} at 127.0.0.1:")
    assert "catalogs: spark_catalog" in report.message


def test_probe_says_when_the_native_catalog_is_missing(spark_connect_url: str) -> None:
    report = probe(target(spark_connect_url, commit_strategy="native", catalog="lake"), TIMEOUT)

    assert report.error_kind is None
    assert report.catalog_found is False
    assert "catalog 'lake' is not visible to the session (native commits need it)" in report.message


def test_probe_reports_refused_quickly() -> None:
    port = free_port()
    started = time.monotonic()
    report = probe(target(f"sc://127.0.0.1:{port}"), TIMEOUT)

    assert time.monotonic() - started < FAST
    assert (report.reachable, report.error_kind) == (False, "refused")
    assert report.message.startswith(f"nothing answers at 127.0.0.1:{port} (connection refused)")


def test_probe_reports_a_host_that_does_not_resolve() -> None:
    started = time.monotonic()
    report = probe(target("sc://no-such-host.invalid:15002"), TIMEOUT)

    assert time.monotonic() - started < FAST
    assert (report.reachable, report.error_kind) == (False, "dns")
    assert report.message == (
        "the cluster host 'no-such-host.invalid' does not resolve (DNS); check the host name in the cluster url"
    )


def test_probe_reports_tls_against_a_plaintext_server(spark_connect_url: str) -> None:
    report = probe(target(f"{spark_connect_url}/;use_ssl=true"), TIMEOUT)

    assert (report.reachable, report.error_kind) == (False, "tls")
    assert report.message.startswith("TLS mismatch with 127.0.0.1:")
    assert "handshake failed" in report.message.lower()


def test_probe_reports_plaintext_against_a_tls_server(spark_auth_proxy: tuple[str, str]) -> None:
    url, _ = spark_auth_proxy
    report = probe(target(url), TIMEOUT)

    assert (report.reachable, report.error_kind) == (False, "tls")
    assert "add use_ssl=true to the url" in report.message


def test_probe_passes_with_the_right_token(spark_auth_proxy: tuple[str, str]) -> None:
    url, token = spark_auth_proxy
    report = probe(target(url, token=token), TIMEOUT)

    assert report.error_kind is None, report.message
    assert (report.reachable, report.authenticated) == (True, True)
    assert report.spark_version is not None
    assert report.spark_version.startswith("4.2.")


def test_probe_reports_a_refused_token_without_leaking_it(spark_auth_proxy: tuple[str, str]) -> None:
    url, _ = spark_auth_proxy
    started = time.monotonic()
    report = probe(target(url, token="wrong-token-123"), TIMEOUT)

    assert time.monotonic() - started < FAST
    assert (report.reachable, report.authenticated, report.error_kind) == (True, False, "unauthenticated")
    assert report.message.startswith(f"the cluster at {url.removeprefix('sc://')} refused the token")
    assert "wrong-token-123" not in report.message


def test_probe_gives_up_on_a_server_that_never_answers(silent_port: int) -> None:
    started = time.monotonic()
    report = probe(target(f"sc://127.0.0.1:{silent_port}"), 2.0)

    assert time.monotonic() - started < 4.0
    assert (report.reachable, report.error_kind) == (False, "timeout")
    assert report.message == f"spark connect at 127.0.0.1:{silent_port} did not answer within 2 s"


def test_analysis_errors_are_terminal_and_keep_the_session(spark_connect_url: str) -> None:
    session = open_session(target(spark_connect_url))
    try:
        with pytest.raises(PySparkException) as raised:
            session.sql("SELECT * FROM no_such_table_here").collect()
        error = translate(raised.value, url=spark_connect_url)
        assert isinstance(error, TerminalError)
        assert error.message.startswith(f"spark at {spark_connect_url.removeprefix('sc://')} refused the query: ")
        assert "[TABLE_OR_VIEW_NOT_FOUND]" in error.message
        assert "no_such_table_here" in error.message
        assert "JVM stacktrace" not in error.message
        assert keeps_session(raised.value)
        assert session.range(3).count() == 3  # the session really is still good
    finally:
        session.stop()


def test_a_released_session_is_transient_and_dropped(spark_connect_url: str) -> None:
    session = open_session(target(spark_connect_url))
    try:
        session.client.release_session()  # what the server does to an expired session
        with pytest.raises(PySparkException) as raised:
            session.range(3).count()
        error = translate(raised.value, url=spark_connect_url)
        assert isinstance(error, TransientError)
        assert "is gone (INVALID_HANDLE.SESSION_CLOSED); a new session will be opened" in error.message
        assert not keeps_session(raised.value)
    finally:
        session.stop()


def test_connection_errors_from_open_session_are_translated() -> None:
    url = f"sc://127.0.0.1:{free_port()}"
    with pytest.raises(PySparkException) as raised:
        open_session(target(url))
    error = translate(raised.value, url=f"{url}/;token=abc")
    assert isinstance(error, TransientError)
    assert not keeps_session(raised.value)
