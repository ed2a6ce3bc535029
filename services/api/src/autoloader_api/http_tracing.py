"""A server span per routed HTTP request, continuing the caller's W3C trace context if it sent one.

The events a request appends carry the span's context onward (the event store injects it), so
an API call and all the work it sets off form one trace.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from autoloader_core.tracing import SpanKind, extracted, mark_failed, span

SERVER_ERROR = 500


class RequestTracing(ASGIMiddleware):
    """Wraps each routed request in a span named by method and route template (never the raw path)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Pass the request on inside a SERVER span; a 5xx answer marks the span failed."""
        method = str(scope.get("method", "GET"))
        route = str(scope.get("path_template") or "unmatched")
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        attributes = {"http.request.method": method, "http.route": route}
        parent = extracted(headers)
        with span(f"{method} {route}", kind=SpanKind.SERVER, parent=parent, attributes=attributes) as current:

            async def send_recording_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    current.set_attribute("http.response.status_code", status)
                    if status >= SERVER_ERROR:
                        mark_failed(current, f"answered {status}")
                await send(message)

            await next_app(scope, receive, send_recording_status)
