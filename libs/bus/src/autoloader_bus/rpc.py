"""Request/reply between services over core NATS (not stored in the event log).

Replies are envelopes ``{ok, result}`` or ``{ok: false, kind, message}``; callers get our own
error types back, so an API can map them to problem details without knowing the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from autoloader_bus.connection import Bus
from autoloader_core.errors import (
    AutoloaderError,
    ConflictError,
    FieldError,
    NotFoundError,
    TerminalError,
    TransientError,
    ValidationFailed,
)

log = logging.getLogger(__name__)

RpcHandler = Callable[[dict[str, Any]], Awaitable[Any]]

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


async def serve(bus: Bus, subject: str, handler: RpcHandler, *, queue: str) -> Subscription:
    """Answer requests on ``subject`` with ``handler`` (load-balanced over ``queue``)."""

    async def on_request(msg: Msg) -> None:
        reply = await _answer(handler, msg.data)
        await msg.respond(msgspec.json.encode(reply))

    subscription = await bus.nc.subscribe(subject, queue=queue, cb=on_request)
    # The server knows the subscription only once the SUB is flushed: until then a request gets
    # "no responders", so a service must not report ready before this returns.
    await bus.nc.flush()
    return subscription


async def call(bus: Bus, subject: str, request: Any, *, timeout: float = 30.0) -> Any:  # noqa: ASYNC109
    """Send ``request`` and return the handler's result.

    Raises:
        TransientError: Nobody answered in time (the serving service is down or busy).
        AutoloaderError: The error the handler raised, re-created on this side.
    """
    try:
        msg = await bus.nc.request(subject, msgspec.json.encode(request), timeout=timeout)
    except (NatsTimeout, NoRespondersError) as exc:
        raise TransientError(f"no answer from {subject.split('.')[1]} service; is it running?") from exc
    reply = msgspec.json.decode(msg.data, type=Reply)
    if reply.ok:
        return reply.result
    if reply.kind == "validation":
        raise ValidationFailed([FieldError(e["field"], e["message"]) for e in reply.errors])
    raise _KINDS.get(reply.kind or "terminal", TerminalError)(reply.message or "request failed")


async def _answer(handler: RpcHandler, data: bytes) -> Reply:
    try:
        result = await handler(msgspec.json.decode(data))
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
