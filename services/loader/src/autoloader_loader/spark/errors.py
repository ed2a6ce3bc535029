"""Spark Connect errors translated into Terminal and Transient errors with plain-language messages.

What the ``pyspark-client`` 4.2 client raises (found by experiment against a real server):

* connection refused, DNS failure and TLS mismatch all arrive as ``SparkConnectGrpcException``
  with gRPC status ``UNAVAILABLE`` (after the bounded retries of ``open_session``); only the
  details tell them apart (``Connection refused``, ``errors resolving``, ``Tls handshake failed``
  or ``WRONG_VERSION_NUMBER``).
* a refused token arrives as ``UNAUTHENTICATED`` or ``PERMISSION_DENIED``.
* analysis errors (missing table or column, parse errors) are ``AnalysisException`` subclasses
  carrying an error condition such as ``TABLE_OR_VIEW_NOT_FOUND``; the session stays usable.
* an expired or released server-side session is an ``INVALID_HANDLE.*`` condition; a stopped
  client session is ``NO_ACTIVE_SESSION``.

DNS failures are transient on purpose: a cluster URL is checked when the cluster is registered
(test-connection), so a lookup failure during a load is far more often a resolver glitch or a
cluster being restarted than a typo, and the run's retry budget bounds the cost of being wrong.
The message still names the host, so a real typo is easy to spot.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import grpc
from pyspark.errors import (
    AnalysisException,
    ArithmeticException,
    DateTimeException,
    NumberFormatException,
    PySparkException,
)

from autoloader_core.errors import AutoloaderError, TerminalError, TransientError

DEFAULT_PORT = 15002
_TOKEN = re.compile(r"token=[^;\s\"'&]*", re.IGNORECASE)
_BEARER = re.compile(r"(authorization[:=]\s*bearer\s+)\S+", re.IGNORECASE)
_JVM_TRACE = "\n\nJVM stacktrace:"
_MAX_MESSAGE = 1500

_TLS_MARKERS = ("tls handshake", "ssl_error", "wrong_version_number", "handshake failed", "certificate", "ssl")
# A plaintext client talking to a TLS port sees the server hang up during connect.
_PLAINTEXT_TO_TLS = "socket closed"
_DNS_MARKERS = ("errors resolving", "dns resolution", "domain name not found", "name or service not known")
_REFUSED_MARKERS = ("connection refused", "failed to connect")
_SESSION_CONDITIONS = ("INVALID_HANDLE.", "NO_ACTIVE_SESSION", "SESSION_CLOSED")
_FILESYSTEM_MARKERS = ("No FileSystem for scheme", "S3AFileSystem not found", "GoogleHadoopFileSystem not found")
"""How Spark says it has no Hadoop file system for a URI scheme (a cluster without hadoop-aws, ...)."""
_DATA_ERRORS = (ArithmeticException, NumberFormatException, DateTimeException)
_DATA_CONDITIONS = (
    "FAILED_READ_FILE",
    "MALFORMED_RECORD_IN_PARSING",
    "CANNOT_PARSE",
    "CAST_INVALID_INPUT",
    "CAST_OVERFLOW",
    "INVALID_UTF8",
)
"""Spark error conditions about the files' contents (a corrupt footer, a malformed row under FAILFAST)."""
_CUT_OFF = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED}
_STATUS_KINDS = {
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "unauthenticated",
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
}


def redact(text: str) -> str:
    """``text`` with every ``token=...`` parameter and bearer token replaced by ``***``."""
    return _BEARER.sub(r"\1***", _TOKEN.sub("token=***", text))


def endpoint(url: str) -> str:
    """``host:port`` of an ``sc://`` URL (Spark Connect's default port when none is given)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return redact(url)
    if not host:
        return redact(url)
    return f"{host}:{port or DEFAULT_PORT}"


def error_kind(exc: BaseException) -> str:
    """A short name for what failed.

    One of analysis, data, filesystem, session (the query or session), unauthenticated, timeout,
    dns, tls, refused, unavailable (the connection) or other.
    """
    if any(marker in str(exc) for marker in _FILESYSTEM_MARKERS):
        return "filesystem"
    if isinstance(exc, AnalysisException):
        return "analysis"
    if isinstance(exc, _DATA_ERRORS) or _condition(exc).startswith(_DATA_CONDITIONS):
        return "data"
    if _condition(exc).startswith(_SESSION_CONDITIONS):
        return "session"
    status, details = _grpc_status(exc)
    if status == grpc.StatusCode.UNAVAILABLE:
        return _unavailable_kind(details.lower())
    return _STATUS_KINDS.get(status, "other") if status is not None else "other"


def _unavailable_kind(details: str) -> str:
    # UNAVAILABLE covers every way of not getting through; only gRPC's details tell them apart.
    if any(m in details for m in _DNS_MARKERS):
        return "dns"
    if any(m in details for m in _TLS_MARKERS) or _PLAINTEXT_TO_TLS in details:
        return "tls"
    if any(m in details for m in _REFUSED_MARKERS):
        return "refused"
    return "unavailable"


def translate(exc: BaseException, *, url: str) -> AutoloaderError:
    """The Terminal or Transient error (plain-language message) for an error raised by a Spark call.

    Transient: the server is unreachable or restarting (refused, DNS, unavailable), the session
    expired, the call was cut off, anything not recognised.
    Terminal: analysis errors (missing table/column, parse errors), bad data (casts, overflows),
    refused credentials, TLS mismatches. Messages never contain the token.

    Args:
        exc: What the Spark call raised.
        url: The cluster's ``sc://`` URL (may carry ``token=``; it is redacted).
    """
    if isinstance(exc, AutoloaderError):
        return exc
    where = endpoint(url)
    kind = error_kind(exc)
    builder = _MESSAGES.get(kind)
    if builder is not None:
        terminal, message = builder(exc, where)
        cls = TerminalError if terminal else TransientError
        return cls(_clip(redact(message)))
    return TransientError(
        _clip(redact(f"spark connect at {where} failed: {type(exc).__name__}: {_spark_message(exc)}"))
    )


def keeps_session(exc: BaseException) -> bool:
    """Whether a session that raised ``exc`` can still be reused (False: drop it and reconnect).

    Only errors about the query itself (analysis, bad data) leave the session good; anything about
    the connection, the credentials or the session is answered by reconnecting.
    """
    return error_kind(exc) in {"analysis", "data", "filesystem"}


def _analysis(exc: BaseException, where: str) -> tuple[bool, str]:
    return True, f"spark at {where} refused the query: {_spark_message(exc)}"


def _data(exc: BaseException, where: str) -> tuple[bool, str]:
    return True, f"spark at {where} could not process the data: {_spark_message(exc)}"


def _session(exc: BaseException, where: str) -> tuple[bool, str]:
    condition = _condition(exc) or "session lost"
    return False, f"the spark connect session at {where} is gone ({condition}); a new session will be opened"


def _unauthenticated(exc: BaseException, where: str) -> tuple[bool, str]:
    return True, (
        f"the cluster at {where} refused the token ({_details(exc)}); "
        "check the cluster's token (a new token must be stored with the cluster)"
    )


def _timeout(exc: BaseException, where: str) -> tuple[bool, str]:
    return False, f"spark connect at {where} did not answer in time ({_details(exc)})"


def _dns(exc: BaseException, where: str) -> tuple[bool, str]:
    host = where.rsplit(":", 1)[0]
    return False, f"the cluster host {host!r} does not resolve (DNS); check the host name in the cluster url"


def _tls(exc: BaseException, where: str) -> tuple[bool, str]:
    _, details = _grpc_status(exc)
    if _PLAINTEXT_TO_TLS in details.lower():
        return True, (
            f"TLS mismatch with {where}: the server closed the connection during connect, which is what a "
            "TLS server does to a plaintext client; add use_ssl=true to the url (a token also turns TLS on)"
        )
    return True, (
        f"TLS mismatch with {where}: the TLS handshake failed ({details.strip()}); "
        "set use_ssl=true in the url only if the server speaks TLS (a token implies TLS), "
        "and make sure its certificate is trusted"
    )


def _refused(exc: BaseException, where: str) -> tuple[bool, str]:
    return False, f"nothing answers at {where} (connection refused); check the cluster is running and the port"


def _unavailable(exc: BaseException, where: str) -> tuple[bool, str]:
    return False, f"spark connect at {where} is unavailable ({_details(exc)})"


def _other(exc: BaseException, where: str) -> tuple[bool, str]:
    status, _ = _grpc_status(exc)
    if status in _CUT_OFF:
        return False, f"the call to spark connect at {where} was cut off ({_details(exc)})"
    return False, f"spark connect at {where} failed: {type(exc).__name__}: {_spark_message(exc)}"


def _filesystem(exc: BaseException, where: str) -> tuple[bool, str]:
    return True, (
        f"spark at {where} cannot read these paths: it has no Hadoop file system for them ({_spark_message(exc)}); "
        "add the file system's jars to the cluster (hadoop-aws, gcs-connector) or set the cluster's "
        "reads_object_stores option to false so the loader streams the files"
    )


_MESSAGES = {
    "analysis": _analysis,
    "filesystem": _filesystem,
    "data": _data,
    "session": _session,
    "unauthenticated": _unauthenticated,
    "timeout": _timeout,
    "dns": _dns,
    "tls": _tls,
    "refused": _refused,
    "unavailable": _unavailable,
    "other": _other,
}


def _condition(exc: BaseException) -> str:
    if isinstance(exc, PySparkException):
        return exc.getCondition() or ""
    return ""


def _grpc_status(exc: BaseException) -> tuple[grpc.StatusCode | None, str]:
    """The gRPC status and details of ``exc`` or of the gRPC error it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, grpc.RpcError) and isinstance(current, grpc.Call):
            return current.code(), current.details() or ""
        current = current.__cause__ or current.__context__
    getter = getattr(exc, "getGrpcStatusCode", None)
    status = getter() if callable(getter) else None
    return (status if isinstance(status, grpc.StatusCode) else None), str(exc)


def _details(exc: BaseException) -> str:
    status, details = _grpc_status(exc)
    text = details.strip() or str(exc)
    return f"{status.name}: {text}" if status is not None and not text.startswith(status.name) else text


def _spark_message(exc: BaseException) -> str:
    # Spark appends the server's JVM stack trace; it helps nobody fixing a table name.
    return str(exc).split(_JVM_TRACE, 1)[0].strip()


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
