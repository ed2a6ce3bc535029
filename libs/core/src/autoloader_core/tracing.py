"""OpenTelemetry tracing: one trace from an API request through every handler its events reach.

Each process sets up tracing once (:func:`configure_tracing`). With an OTLP endpoint configured
(``AUTOLOADER_OTLP_ENDPOINT``) spans are batched and exported over OTLP/HTTP; without one the
OpenTelemetry API stays a no-op and a span costs next to nothing, so the code below is called
unconditionally.

The trace crosses processes as W3C trace context (``traceparent``/``tracestate``): the event
store writes it into the headers of every event it appends (:func:`inject`), the consumers and
the RPC servers read it back (:func:`extracted`) and make their span its child. Spans of every
service carry ``autoloader.service`` (tests run several services in one process, where the
resource's ``service.name`` is shared).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = [
    "Span",
    "SpanKind",
    "TraceContext",
    "configure_tracing",
    "current_ids",
    "current_service",
    "extracted",
    "inject",
    "mark_failed",
    "set_service",
    "shutdown_tracing",
    "span",
    "start_span",
]

log = logging.getLogger(__name__)

TRACER_NAME = "autoloader"
SERVICE_ATTRIBUTE = "autoloader.service"
TRACES_PATH = "/v1/traces"

# A proxy: it hands spans to whichever provider is installed, even one installed after this import.
_tracer = trace.get_tracer(TRACER_NAME)
_service: contextvars.ContextVar[str] = contextvars.ContextVar("autoloader_service", default="")
_process_service = ""
_configured = threading.Lock()
_provider: TracerProvider | None = None


def configure_tracing(service: str, endpoint: str, *, processor: SpanProcessor | None = None) -> TracerProvider | None:
    """Install this process's tracer provider, once (later calls return the first one).

    The first caller's ``service`` is the process's service (see :func:`current_service`).

    Args:
        service: The service name (resource ``service.name`` = ``autoloader-<service>``).
        endpoint: Base URL of an OTLP/HTTP collector (``/v1/traces`` is appended); empty: no export.
        processor: A span processor to use instead of the OTLP exporter (tests pass an in-memory one).

    Returns:
        The provider installed (or already installed), ``None`` when tracing stays off.
    """
    global _provider, _process_service  # noqa: PLW0603 - one tracer provider per process is OpenTelemetry's model
    with _configured:
        _process_service = _process_service or service
        if _provider is not None or (not endpoint and processor is None):
            return _provider
        # Replicas of a service share its name: the pid tells their spans apart.
        resource = Resource.create({"service.name": f"autoloader-{service}", "process.pid": os.getpid()})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(processor or BatchSpanProcessor(_otlp_exporter(endpoint)))
        trace.set_tracer_provider(provider)
        _provider = provider
        log.info("tracing on", extra={"otlp_endpoint": endpoint or "(in-process)"})
        return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter (at process exit; spans still queued are sent first)."""
    if _provider is not None:
        _provider.shutdown()


def _otlp_exporter(endpoint: str) -> Any:
    # Imported here: the exporter pulls in protobuf and requests, which a process without an
    # endpoint never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)


def set_service(service: str) -> None:
    """Name the service whose work the current context (task, thread) does."""
    _service.set(service)


def current_service() -> str:
    """The service set for the current context, else the process's first ("" when none)."""
    return _service.get() or _process_service


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """Run the block in a new current span; an exception marks it failed and propagates.

    Args:
        name: The span name (low-cardinality: "list files", "handle BatchPlanned").
        kind: The span kind (SERVER for requests, CONSUMER for events, CLIENT for calls out).
        parent: The context to continue (a remote parent from :func:`extracted`); default: the current one.
        attributes: Attributes to set; ``None`` values are left out.
    """
    values = {key: value for key, value in (attributes or {}).items() if value is not None}
    values[SERVICE_ATTRIBUTE] = current_service() or "unknown"
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=values, record_exception=True, set_status_on_exception=True
    ) as current:
        yield current


def mark_failed(current: Span, message: str) -> None:
    """Set ``current``'s status to error without an exception (e.g. an HTTP 5xx answer)."""
    current.set_status(Status(StatusCode.ERROR, message))


TraceContext = otel_context.Context
"""A trace context to carry (e.g. one per event appended in a batch)."""


def inject(headers: dict[str, str], context: otel_context.Context | None = None) -> dict[str, str]:
    """Add the trace context (default: the current one) to ``headers`` and return them.

    A no-op without a recording span.
    """
    propagate.inject(headers, context=context)
    return headers


def start_span(name: str, *, attributes: Mapping[str, Any] | None = None) -> tuple[Span, otel_context.Context]:
    """Start a span that is not made current, and return it with the context that has it as parent.

    For work done on many items at once (a batch of appends): each item gets its own span, and the
    caller ends it (``span.end()``) once the item's outcome is known.
    """
    values = {key: value for key, value in (attributes or {}).items() if value is not None}
    values[SERVICE_ATTRIBUTE] = current_service() or "unknown"
    started = _tracer.start_span(name, attributes=values)
    return started, trace.set_span_in_context(started)


def extracted(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by message or request ``headers`` (empty when none)."""
    return propagate.extract(dict(headers or {}))


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids as hex (for logs), ``None`` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
