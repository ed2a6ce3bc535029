"""The ONE mapping from errors to RFC 9457 problem details (``application/problem+json``).

A server that is down (PostgreSQL, NATS) or a service that does not answer is a 503 with
``Retry-After``, never a 500: the request may succeed once the server is back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import BaseRoute, HTTPRoute

from autoloader_bus.connection import is_unavailable as nats_unavailable
from autoloader_core.errors import (
    AutoloaderError,
    ConfirmationRequired,
    ConflictError,
    FieldError,
    NotFoundError,
    TerminalError,
    TransientError,
    ValidationFailed,
)
from autoloader_db.database import is_unavailable as database_unavailable
from autoloader_db.database import is_unstorable_text

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
"""What a 503 tells the client to wait: about one backoff step of the services reconnecting."""
_TYPE_PREFIX = "urn:autoloader:problem:"
# Checked in order: the first matching class decides the status.
_STATUS_BY_ERROR: tuple[tuple[type[AutoloaderError], int, str], ...] = (
    (ConfirmationRequired, 400, "confirmation-required"),
    (ValidationFailed, 422, "validation"),
    (NotFoundError, 404, "not-found"),
    (ConflictError, 409, "conflict"),
    (TerminalError, 422, "unprocessable"),
    (TransientError, 503, "unavailable"),
)
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_BACKTICKED = re.compile(r"`([^`]*)`")


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Render any exception raised while handling ``request`` as a problem-details response."""
    status, slug, detail, errors = _classify(exc)
    if isinstance(exc, RequestEntityTooLarge):
        detail = _too_large(request)
    if status == 503:
        log.warning("service unavailable", extra={"path": request.url.path, "error": str(exc)})
    elif status >= 500:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    body: dict[str, Any] = {
        "type": f"{_TYPE_PREFIX}{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def _too_large(request: Request[Any, Any, Any]) -> str:
    limit = request.route_handler.resolve_request_max_body_size()
    return (
        f"the request body is larger than {limit} bytes, the most this API accepts "
        "(AUTOLOADER_API_MAX_BODY_BYTES); send a smaller body"
    )


def _classify(exc: Exception) -> tuple[int, str, str, list[FieldError] | None]:
    if (server_problem := _server_problem(exc)) is not None:
        return server_problem
    if isinstance(exc, AutoloaderError):
        for error_type, status, slug in _STATUS_BY_ERROR:
            if isinstance(exc, error_type):
                errors = exc.errors if isinstance(exc, ValidationFailed) else None
                return status, slug, exc.message, errors
    if isinstance(exc, ValidationException):
        return _request_shape_problem(exc)
    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    return 500, "internal", "internal error; the server log has the details", None


def _server_problem(exc: Exception) -> tuple[int, str, str, None] | None:
    """A server that is down (503), or PostgreSQL refusing a value (bad input, 422); None otherwise."""
    if database_unavailable(exc) and not isinstance(exc, AutoloaderError):
        return 503, "unavailable", "PostgreSQL is unavailable; retry shortly", None
    if nats_unavailable(exc):
        return 503, "unavailable", "NATS is unavailable; retry shortly", None
    if is_unstorable_text(exc):
        detail = "a value holds a character that cannot be stored (a NUL byte, \\u0000); remove it"
        return 422, "validation", detail, None
    return None


def _http_problem(exc: HTTPException) -> tuple[int, str, str, None]:
    status = exc.status_code
    if status == 400 and _is_decode_error(exc):
        detail = f"the request body is not valid JSON ({exc.detail}); send a JSON object"
        return 400, "malformed-json", detail, None
    if status == 404:
        return 404, "not-found", "no such endpoint; see /schema/openapi.json", None
    if status == 405:
        return 405, "method-not-allowed", f"{exc.detail}; see /schema/openapi.json for the methods", None
    slug = HTTPStatus(status).phrase.lower().replace(" ", "-")
    return status, slug, str(exc.detail), None


def _is_decode_error(exc: BaseException) -> bool:
    """Tell whether a 400 came from a body that is not JSON at all (malformed or truncated)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (msgspec.DecodeError, SerializationException)) or "JSON is malformed" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _request_shape_problem(exc: ValidationException) -> tuple[int, str, str, list[FieldError]]:
    """Turn Litestar/msgspec decoding errors into field errors (missing fields, wrong JSON types)."""
    cause = exc.__cause__
    if isinstance(cause, msgspec.ValidationError):
        errors = [_field_error(str(cause))]
    else:
        errors = [
            FieldError(str(item.get("key", "body")), str(item.get("message", "invalid value")))
            for item in (exc.extra if isinstance(exc.extra, list) else [])
        ]
    errors = errors or [FieldError("body", "the request does not match the documented schema")]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return 422, "validation", summary, errors


def _field_error(text: str) -> FieldError:
    match = _MSGSPEC_PATH.match(text)
    assert match is not None  # the pattern matches any string
    message, path = match.group("message"), _field_path(match.group("path") or "$")
    named = _BACKTICKED.findall(message)
    if message.startswith("Object missing required field") and named:
        field = _join(path, named[0])
        return FieldError(field, f"{field} is required; send it")
    if message.startswith("Object contains unknown field") and named:
        field = _join(path, named[0])
        return FieldError(
            field, f"unknown field {field}; remove it (see /schema/openapi.json for the fields)"
        )
    return FieldError(path or "body", message.replace("`", "'"))


def _field_path(path: str) -> str:
    # "$.data.source.path" for bodies, "$.limit" for query parameters.
    for prefix in ("$.data.", "$.data", "$.", "$"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class ProblemField(msgspec.Struct, frozen=True):
    """One invalid field of a 422: its path (``source.path``, ``limit``) and what to send instead."""

    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9457 problem details, the body of every error answer (``application/problem+json``)."""

    type: str
    """``urn:autoloader:problem:<slug>``, e.g. ``...:validation``, ``...:not-found``, ``...:too-many-requests``."""
    title: str
    status: int
    detail: str
    """What went wrong and what to do about it."""
    instance: str
    errors: list[ProblemField] | msgspec.UnsetType = msgspec.UNSET
    """Validation problems only: every invalid field at once."""


_PROBLEM_STATUSES: dict[int, str] = {
    400: "the body is not JSON, or a destructive operation was sent without confirm: true",
    401: "missing, invalid or revoked API key",
    404: "no such resource for this tenant (another tenant's resource answers the same)",
    409: "the request conflicts with the resource's state",
    413: "the request body is larger than the API accepts",
    422: "a field or parameter is invalid: errors[] names each one and the rule",
    429: "the tenant's request rate is used up: wait Retry-After seconds",
    503: "a service the request needs is not answering: retry later",
}


def document_problems(routes: Iterable[BaseRoute]) -> None:
    """Declare the problem-details answers of every ``/api/v1`` operation in the OpenAPI schema.

    Litestar would otherwise document a 400 with its own error body, which the API never sends.
    """
    responses = {
        status: ResponseSpec(
            data_container=Problem, description=description, media_type=PROBLEM_JSON, generate_examples=False
        )
        for status, description in _PROBLEM_STATUSES.items()
    }
    for route in routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            continue
        for handler in route.route_handlers:
            handler.responses = {**responses, **(handler.responses or {})}
