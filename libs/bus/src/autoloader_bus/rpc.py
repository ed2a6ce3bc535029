"""Request/reply between services over core NATS (not stored in the event log).

Replies are envelopes ``{ok, result}`` or ``{ok: false, kind, message}``; callers get our own
error types back, so an API can map them to problem details without knowing the transport.
A served operation may name its request type (a msgspec Struct of ``autoloader_contracts.rpc``):
the request is then decoded into it, and a malformed one is refused with field errors before the
handler runs; a caller may name the reply type to get the result decoded the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from autoloader_bus.connection import Bus, is_unavailable
from autoloader_bus.event_store import trace_headers
from autoloader_core.errors import (
    AutoloaderError,
    ConflictError,
    FieldError,
    NotFoundError,
    TerminalError,
    TransientError,
    ValidationFailed,
)
from autoloader_core.tracing import SpanKind, extracted, inject, span

log = logging.getLogger(__name__)

RpcHandler = Callable[[Any], Awaitable[Any]]
"""Takes the decoded request (a dict, or the operation's request Struct) and returns a JSON-able result."""
R = TypeVar("R")

_KINDS: dict[str, type[AutoloaderError]] = {
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "terminal": TerminalError,
    "transient": TransientError,
}


class Reply(msgspec.Struct, omit_defaults=True):
    """The reply envelope."""

    ok: bool
    result: Any = None
    kind: str | None = None
    message: str | None = None
    errors: list[dict[str, str]] = []


async def serve(
    bus: Bus, subject: str, handler: RpcHandler, *, queue: str, request_type: type[Any] | None = None
) -> Subscription:
    """Answer requests on ``subject`` with ``handler`` (load-balanced over ``queue``).

    Args:
        bus: The connected bus.
        subject: The operation's subject.
        handler: Answers one request.
        queue: Queue group: replicas of a service share the requests.
        request_type: Decode requests into this type (else a plain dict).
    """

    async def on_request(msg: Msg) -> None:
        parent = extracted(trace_headers(msg.headers))
        with span(f"serve {subject}", kind=SpanKind.SERVER, parent=parent, attributes={"rpc.method": subject}):
            reply = await _answer(handler, msg.data, request_type)
        await msg.respond(msgspec.json.encode(reply))

    subscription = await bus.nc.subscribe(subject, queue=queue, cb=on_request)
    # The server knows the subscription only once the SUB is flushed: until then a request gets
    # "no responders", so a service must not report ready before this returns.
    await bus.nc.flush()
    return subscription


async def unsubscribe_all(subscriptions: list[Subscription], timeout: float = 2.0) -> None:  # noqa: ASYNC109
    """Unsubscribe each of ``subscriptions``, best effort and bounded (NATS may be gone)."""
    for subscription in subscriptions:
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await asyncio.wait_for(subscription.unsubscribe(), timeout=timeout)


async def call(bus: Bus, subject: str, request: Any, *, timeout: float = 30.0) -> Any:  # noqa: ASYNC109
    """Send ``request`` and return the handler's result (decoded JSON).

    Raises:
        TransientError: Nobody answered in time (the serving service is down or busy).
        AutoloaderError: The error the handler raised, re-created on this side.
    """
    try:
        with span(f"call {subject}", kind=SpanKind.CLIENT, attributes={"rpc.method": subject}):
            headers = inject({}) or None
            msg = await bus.nc.request(subject, msgspec.json.encode(request), timeout=timeout, headers=headers)
    except (NatsTimeout, NoRespondersError) as exc:
        raise TransientError(f"no answer from {subject.split('.')[1]} service; is it running?") from exc
    except NatsError as exc:
        if is_unavailable(exc):
            raise TransientError(f"NATS is unavailable ({exc!r}); retry shortly") from exc
        raise
    reply = msgspec.json.decode(msg.data, type=Reply)
    if reply.ok:
        return reply.result
    if reply.kind == "validation":
        raise ValidationFailed([FieldError(e["field"], e["message"]) for e in reply.errors])
    raise _KINDS.get(reply.kind or "terminal", TerminalError)(reply.message or "request failed")


async def call_typed(
    bus: Bus,
    subject: str,
    request: msgspec.Struct,
    reply_type: type[R],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - passed to the NATS request
) -> R:
    """Send a typed ``request`` and return the result decoded as ``reply_type``.

    Raises:
        TransientError: Nobody answered in time, or the reply does not match ``reply_type``
            (the serving service runs another version).
        AutoloaderError: The error the handler raised, re-created on this side.
    """
    result = await call(bus, subject, request, timeout=timeout)
    try:
        return msgspec.convert(result, reply_type)
    except msgspec.ValidationError as exc:
        raise TransientError(f"unexpected reply on {subject}: {exc}") from exc


def _decoded(data: bytes, request_type: type[Any] | None) -> Any:
    """The request as the handler takes it.

    Raises:
        ValidationFailed: The request does not match ``request_type``.
    """
    if request_type is None:
        return msgspec.json.decode(data)
    try:
        return msgspec.json.decode(data, type=request_type)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit(" - at `$.", 1)[-1].rstrip("`") if " - at `$." in str(exc) else "request"
        raise ValidationFailed([FieldError(path, str(exc).split(" - at ")[0])]) from exc


async def _answer(handler: RpcHandler, data: bytes, request_type: type[Any] | None = None) -> Reply:
    try:
        result = await handler(_decoded(data, request_type))
    except ValidationFailed as exc:
        return Reply(
            ok=False,
            kind="validation",
            message=exc.message,
            errors=[{"field": e.field, "message": e.message} for e in exc.errors],
        )
    except AutoloaderError as exc:
        kind = next((k for k, cls in _KINDS.items() if type(exc) is cls), None)
        if kind is None:
            kind = "transient" if isinstance(exc, TransientError) else "terminal"
        return Reply(ok=False, kind=kind, message=exc.message)
    except Exception as exc:
        log.exception("rpc handler failed")
        return Reply(ok=False, kind="transient", message=f"internal error: {type(exc).__name__}")
    return Reply(ok=True, result=result)
