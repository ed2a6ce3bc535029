"""Spans recorded in the test process: one SDK tracer provider per session, recording on demand.

OpenTelemetry allows one global tracer provider per process, so the first test that asks for
:func:`recorded_spans` installs it for the rest of the session; spans are kept only while a test
listens, so other tests pay next to nothing and no memory piles up.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from autoloader_core.tracing import configure_tracing


class RecordingProcessor(SpanProcessor):
    """Keeps finished spans while :attr:`recording` is true."""

    def __init__(self) -> None:
        self.recording = False
        self.spans: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Keep ``span`` if a test listens."""
        if self.recording:
            with self._lock:
                self.spans.append(span)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Spans are kept synchronously: always flushed."""
        return True


_processor: RecordingProcessor | None = None


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent (None for a root span)."""
    return span.parent.span_id if span.parent is not None else None


def attributes(span: ReadableSpan) -> dict[str, object]:
    """``span``'s attributes as a plain dict."""
    return dict(span.attributes or {})


@contextmanager
def recorded_spans() -> Iterator[list[ReadableSpan]]:
    """Record the spans ended inside the block into the list yielded."""
    global _processor  # noqa: PLW0603 - one provider per process
    if _processor is None:
        _processor = RecordingProcessor()
        installed = configure_tracing("tests", "", processor=_processor)
        assert installed is not None, "another tracer provider was installed before the tests' one"
    _processor.spans = []
    _processor.recording = True
    try:
        yield _processor.spans
    finally:
        _processor.recording = False


class OtlpCollector:
    """An OTLP/HTTP trace collector on a free loopback port: keeps every export request, decoded.

    Use as a context manager; :attr:`url` is the base URL to configure (``/v1/traces`` is posted to).
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, ExportTraceServiceRequest]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector.lock:
                    collector.received.append((self.path, ExportTraceServiceRequest.FromString(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self) -> list[tuple[str, ExportTraceServiceRequest]]:
        """The export requests received so far (path, request)."""
        with self.lock:
            return list(self.received)

    def __enter__(self) -> OtlpCollector:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
