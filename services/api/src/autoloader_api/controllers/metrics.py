"""``GET /metrics``: the api's metrics and the platform's, in the Prometheus text format.

Unauthenticated like ``/health`` (scrapers carry no tenant key) and holding no tenant data
beyond ids. The stream-wide gauges (consumer backlog, dead letters) are read from NATS at each
scrape, so they are as fresh as the scrape.
"""

from __future__ import annotations

import asyncio
import logging

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from autoloader_bus.connection import Bus
from autoloader_bus.stats import dead_letter_count, durable_consumers
from autoloader_core.errors import TransientError
from autoloader_core.telemetry import CONTENT_TYPE, Telemetry

log = logging.getLogger(__name__)

REFRESH_TIMEOUT_SECONDS = 2.0


class MetricsController(Controller):
    """``/metrics`` for Prometheus."""

    path = "/metrics"
    include_in_schema = False

    @get("/", summary="Prometheus metrics")
    async def metrics(
        self, bus: NamedDependency[Bus], telemetry: NamedDependency[Telemetry]
    ) -> Response[bytes]:
        """Render every metric of this process after refreshing the stream gauges."""
        try:
            await asyncio.wait_for(refresh_stream_gauges(bus, telemetry), timeout=REFRESH_TIMEOUT_SECONDS)
        except (TransientError, TimeoutError) as exc:
            # The last values stay; the api's own metrics are still worth serving.
            log.warning("stream gauges not refreshed", extra={"error": str(exc)})
        return Response(telemetry.render(), media_type=CONTENT_TYPE)


async def refresh_stream_gauges(bus: Bus, telemetry: Telemetry) -> None:
    """Set the consumer backlog and dead-letter gauges from NATS.

    Raises:
        TransientError: NATS did not answer.
    """
    instruments = telemetry.instruments
    for stats in await durable_consumers(bus):
        labels = {"consumer": stats.consumer}
        instruments.consumer_pending.set(stats.pending, labels)
        instruments.consumer_ack_pending.set(stats.ack_pending, labels)
        instruments.consumer_redelivered.set(stats.redelivered, labels)
    instruments.dead_letters.set(await dead_letter_count(bus))
