"""Spark Connect errors -> Terminal/Transient with plain-language messages (real pyspark exception objects)."""

from __future__ import annotations

import pytest
from grpc import StatusCode
from pyspark.errors.exceptions.connect import (
    AnalysisException,
    NumberFormatException,
    ParseException,
    SparkConnectGrpcException,
    UnknownException,
)

from autoloader_core.errors import NotFoundError, TerminalError, TransientError
from autoloader_loader.spark.errors import endpoint, error_kind, keeps_session, redact, translate
from autoloader_loader.spark.probe import parse_version, version_problem

URL = "sc://spark.example.com:443/;use_ssl=true;token=s3cr3t-t0ken"


def grpc_error(status: StatusCode, details: str) -> SparkConnectGrpcException:
    return SparkConnectGrpcException(message=details, grpc_status_code=status)


def test_analysis_errors_are_terminal_keep_the_session_and_drop_the_jvm_trace() -> None:
    exc = AnalysisException(
        message="[TABLE_OR_VIEW_NOT_FOUND] The table or view `t` cannot be found.\n\nJVM stacktrace:\norg.apache...",
        errorClass="TABLE_OR_VIEW_NOT_FOUND",
        grpc_status_code=StatusCode.INTERNAL,
    )
    error = translate(exc, url=URL)
    assert isinstance(error, TerminalError)
    assert error.message == (
        "spark at spark.example.com:443 refused the query: "
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `t` cannot be found."
    )
    assert keeps_session(exc)


def test_parse_errors_are_analysis_errors() -> None:
    exc = ParseException(
        message="[PARSE_SYNTAX_ERROR] Syntax error at or near 'selec'.", errorClass="PARSE_SYNTAX_ERROR"
    )
    assert isinstance(translate(exc, url=URL), TerminalError)
    assert error_kind(exc) == "analysis"
    assert keeps_session(exc)


def test_bad_data_is_terminal_and_keeps_the_session() -> None:
    exc = NumberFormatException(
        message="[CAST_INVALID_INPUT] The value 'x' cannot be cast", errorClass="CAST_INVALID_INPUT"
    )
    error = translate(exc, url=URL)
    assert isinstance(error, TerminalError)
    assert "could not process the data: [CAST_INVALID_INPUT]" in error.message
    assert keeps_session(exc)


@pytest.mark.parametrize("condition", ["INVALID_HANDLE.SESSION_NOT_FOUND", "INVALID_HANDLE.SESSION_CLOSED"])
def test_a_lost_session_is_transient_and_dropped(condition: str) -> None:
    exc = UnknownException(message=f"[{condition}] The handle 1 is invalid.", errorClass=condition)
    error = translate(exc, url=URL)
    assert isinstance(error, TransientError)
    assert error.message == (
        f"the spark connect session at spark.example.com:443 is gone ({condition}); a new session will be opened"
    )
    assert not keeps_session(exc)


@pytest.mark.parametrize("status", [StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED])
def test_a_refused_token_is_terminal(status: StatusCode) -> None:
    exc = grpc_error(status, "invalid bearer token")
    error = translate(exc, url=URL)
    assert isinstance(error, TerminalError)
    assert error.message.startswith("the cluster at spark.example.com:443 refused the token")
    assert not keeps_session(exc)


def test_refused_connections_are_transient_and_name_host_and_port() -> None:
    exc = grpc_error(
        StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.0.0.1:15002: Connection refused"
    )
    error = translate(exc, url="sc://10.0.0.1")
    assert isinstance(error, TransientError)
    assert error.message.startswith("nothing answers at 10.0.0.1:15002 (connection refused)")
    assert not keeps_session(exc)


def test_dns_failures_are_transient_and_name_the_host() -> None:
    exc = grpc_error(StatusCode.UNAVAILABLE, "errors resolving nope.invalid:15002: Domain name not found")
    error = translate(exc, url="sc://nope.invalid:15002")
    assert isinstance(error, TransientError)
    assert (
        error.message
        == "the cluster host 'nope.invalid' does not resolve (DNS); check the host name in the cluster url"
    )


@pytest.mark.parametrize(
    ("details", "hint"),
    [
        (
            "failed to connect to all addresses; Tls handshake failed (TSI_PROTOCOL_FAILURE): WRONG_VERSION_NUMBER",
            "handshake failed",
        ),
        (
            "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed",
            "add use_ssl=true",
        ),
    ],
)
def test_tls_mismatches_are_terminal(details: str, hint: str) -> None:
    exc = grpc_error(StatusCode.UNAVAILABLE, details)
    error = translate(exc, url=URL)
    assert isinstance(error, TerminalError)
    assert error.message.startswith("TLS mismatch with spark.example.com:443")
    assert hint in error.message


@pytest.mark.parametrize("status", [StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED, StatusCode.UNAVAILABLE])
def test_cut_off_calls_are_transient(status: StatusCode) -> None:
    exc = grpc_error(status, "stream reset")
    assert isinstance(translate(exc, url=URL), TransientError)
    assert not keeps_session(exc)


def test_anything_else_is_transient_with_type_and_message() -> None:
    error = translate(RuntimeError("boom"), url=URL)
    assert isinstance(error, TransientError)
    assert error.message == "spark connect at spark.example.com:443 failed: RuntimeError: boom"


def test_our_own_errors_pass_through() -> None:
    exc = NotFoundError("gone")
    assert translate(exc, url=URL) is exc


def test_the_token_never_reaches_a_message() -> None:
    exc = RuntimeError(f"could not reach {URL} with authorization: Bearer s3cr3t-t0ken")
    error = translate(exc, url=URL)
    assert "s3cr3t" not in error.message
    assert "token=***" in error.message
    assert redact("x;token=abc;use_ssl=true") == "x;token=***;use_ssl=true"
    assert endpoint(URL) == "spark.example.com:443"


@pytest.mark.parametrize(
    ("server", "client", "problem"),
    [
        ("4.2.0", "4.2.0", None),
        ("4.0.1", "4.2.0", None),
        ("4.3.0-SNAPSHOT", "4.2.0", None),
        ("3.5.1", "4.2.0", "the cluster runs spark 3.5.1 but the loader's spark connect client is 4.2.0"),
        ("3.4.0", "4.2.0", "the cluster runs spark 3.4.0; spark connect needs spark 3.5 or newer"),
        ("5.0.0", "4.2.0", "the cluster runs spark 5.0.0 but the loader's spark connect client is 4.2.0"),
        ("banana", "4.2.0", "the cluster reports spark version 'banana'"),
    ],
)
def test_version_policy(server: str, client: str, problem: str | None) -> None:
    found = version_problem(server, client)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)


def test_parse_version() -> None:
    assert parse_version("3.5.1-databricks") == (3, 5)
    assert parse_version("4.2") == (4, 2)
    with pytest.raises(ValueError, match="not a spark version"):
        parse_version("4")
