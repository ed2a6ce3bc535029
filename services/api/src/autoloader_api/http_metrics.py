"""API latency by route template, method and status (``autoloader_http_request_duration_seconds``)."""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from autoloader_core.metrics import Instruments

UNKNOWN_STATUS = "500"
"""Recorded when the handler raised before any response started (the error handler answers 500)."""


class RequestMetrics(ASGIMiddleware):
    """Times each routed HTTP request; the route label is the template, never the raw path.

    Args:
        instruments: Where the duration is recorded.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, instruments: Instruments) -> None:
        self._instruments = instruments

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Pass the request on, then record how long it took and the status it got."""
        started = time.monotonic()
        status = UNKNOWN_STATUS

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, send_recording_status)
        finally:
            labels = {
                "route": str(scope.get("path_template") or "unmatched"),
                "method": str(scope.get("method", "GET")),
                "status": status,
            }
            self._instruments.http_duration.record(time.monotonic() - started, labels)
