"""Telemetry setup: an OpenTelemetry MeterProvider exported in the Prometheus text format.

Each process builds one :class:`Telemetry` (:func:`process_telemetry`); its instruments
(:mod:`autoloader_core.metrics`) record into a Prometheus registry of its own, which the api
serves at ``/metrics`` and the other services on ``AUTOLOADER_METRICS_PORT``
(:func:`serve_metrics`). A registry of its own (not prometheus_client's global one) lets tests
build as many as they like without duplicate-collector errors.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)

from autoloader_core.metrics import Instruments

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of :func:`render`'s output (Prometheus text format 0.0.4)."""
SERVER_STOP_SECONDS = 3.0


@dataclass(frozen=True)
class Telemetry:
    """A meter provider, the Prometheus registry it exports to, and the product's instruments."""

    provider: MeterProvider
    registry: CollectorRegistry
    instruments: Instruments

    def render(self) -> bytes:
        """Return every metric of this process in the Prometheus text format."""
        return bytes(generate_latest(self.registry))


def build_meter_provider(service: str, registry: CollectorRegistry) -> MeterProvider:
    """Build a MeterProvider whose metrics are read by a PrometheusMetricReader into ``registry``.

    Args:
        service: The service name (``service.name`` resource attribute, shown in ``target_info``).
        registry: The Prometheus registry the reader registers its collector with.
    """
    # Scope labels (otel_scope_*) would repeat "autoloader" on every series: leave them out.
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    resource = Resource.create({"service.name": f"autoloader-{service}"})
    return MeterProvider(metric_readers=[reader], resource=resource)


def build_telemetry(service: str) -> Telemetry:
    """Build a fresh :class:`Telemetry` for ``service`` (tests build their own)."""
    registry = CollectorRegistry()
    # process_* (CPU, memory, open fds) and python_info: a service that recorded nothing yet still says it is there.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    provider = build_meter_provider(service, registry)
    return Telemetry(provider=provider, registry=registry, instruments=Instruments(provider.get_meter("autoloader")))


_process: Telemetry | None = None
_process_lock = threading.Lock()


def process_telemetry(service: str = "process") -> Telemetry:
    """Return this process's :class:`Telemetry`, building it on first use.

    Services that tests run together in one process share it (their counts add up, as they would
    in one Prometheus job); the first caller's ``service`` names the resource.
    """
    global _process  # noqa: PLW0603 - one exporter per process is the point
    with _process_lock:
        if _process is None:
            _process = build_telemetry(service)
        return _process


@dataclass
class MetricsServer:
    """A running Prometheus HTTP endpoint (``GET /metrics``); :meth:`stop` shuts it down."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on (useful when started on port 0 in tests)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving and wait briefly for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=SERVER_STOP_SECONDS)


def serve_metrics(telemetry: Telemetry, *, host: str, port: int) -> MetricsServer:
    """Serve ``telemetry``'s registry over HTTP on ``host:port`` in a daemon thread.

    Raises:
        OSError: The address cannot be bound (in use, not local).
    """
    server, thread = start_http_server(port, addr=host, registry=telemetry.registry)
    running = MetricsServer(server=server, thread=thread)
    log.info("serving metrics", extra={"url": f"http://{host}:{running.port}/metrics"})
    return running
