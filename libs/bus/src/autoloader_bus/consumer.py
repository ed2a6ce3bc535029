"""Durable pull consumers with one acknowledgement policy for every service.

A handler returns normally -> ack. It raises :class:`TransientError` (or an unexpected
exception) -> nak with a backoff delay, redelivered up to ``max_deliver`` times. It raises
:class:`TerminalError` -> terminate (logged). Handlers see ``delivery.is_last_attempt`` so they
can record a failure event before the message is given up.

A consumer outlives NATS outages: binding waits for the server with backoff, a failing fetch is
retried with backoff, and an acknowledgement that cannot reach the server is left to the
server's redelivery (handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from autoloader_bus.connection import Bus, is_unavailable
from autoloader_contracts.codec import UnknownEventType, decode
from autoloader_contracts.events import Event
from autoloader_core.backoff import Backoff, sleep_or_stop
from autoloader_core.errors import TerminalError

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0)


@dataclass
class Delivery:
    """One delivered event and its delivery bookkeeping."""

    event: Event
    seq: int
    subject: str
    attempt: int
    max_deliver: int
    _msg: Msg

    @property
    def is_last_attempt(self) -> bool:
        """True when a failure now gives the message up for good."""
        return self.attempt >= self.max_deliver

    async def in_progress(self) -> None:
        """Tell the server we are still working (resets the ack timer)."""
        await self._msg.in_progress()


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer: its name, filters and redelivery policy."""

    durable: str
    filter_subjects: Sequence[str]
    ack_wait_seconds: float = 60.0
    max_deliver: int = 5
    batch_size: int = 1
    max_ack_pending: int = 1000


async def ensure_consumer(bus: Bus, spec: ConsumerSpec) -> None:
    """Create or update the durable consumer described by ``spec``."""
    config = ConsumerConfig(
        durable_name=spec.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=spec.ack_wait_seconds,
        max_deliver=spec.max_deliver,
        filter_subjects=list(spec.filter_subjects),
        max_ack_pending=spec.max_ack_pending,
    )
    await bus.js.add_consumer(bus.stream, config)


async def consume(
    bus: Bus, spec: ConsumerSpec, handler: Handler, stop: asyncio.Event, *, bound: asyncio.Event | None = None
) -> None:
    """Deliver events matching ``spec`` to ``handler`` one at a time until ``stop`` is set.

    Args:
        bus: The connected bus.
        spec: The durable consumer.
        handler: Handles one delivery (see the module doc for the acknowledgement policy).
        stop: Set to stop consuming.
        bound: Set once the durable consumer exists and this process is bound to it, i.e. when
            the service really consumes (it reports ``serving`` only then).
    """
    subscription = await _bind(bus, spec, stop)
    if subscription is None:
        return
    if bound is not None:
        bound.set()
    backoff = Backoff(initial=0.5, cap=10.0)
    reconnects = _reconnects(bus)
    try:
        while not stop.is_set():
            if _reconnects(bus) != reconnects:
                # The server restarted: make sure the durable consumer is there (it is, when the
                # store survived; otherwise it is recreated and the stream is read again).
                reconnects = _reconnects(bus)
                with contextlib.suppress(NatsError, OSError):
                    await ensure_consumer(bus, spec)
            try:
                messages = await subscription.fetch(spec.batch_size, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            except (NatsError, OSError) as exc:
                delay = backoff.next_delay()
                log.warning("fetching events failed; retrying", extra={"durable": spec.durable,
                                                                        "error": repr(exc), "retry_in": delay})
                await sleep_or_stop(stop, delay)
                continue
            backoff.reset()
            for message in messages:
                await _dispatch(message, spec, handler)
    finally:
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await asyncio.wait_for(subscription.unsubscribe(), timeout=2.0)


async def _bind(bus: Bus, spec: ConsumerSpec, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
    """Create the durable consumer and bind to it, waiting for NATS; ``None`` when stopped first."""
    backoff = Backoff(initial=0.5, cap=10.0)
    while not stop.is_set():
        try:
            await ensure_consumer(bus, spec)
            return await bus.js.pull_subscribe_bind(durable=spec.durable, stream=bus.stream)
        except (NatsError, OSError) as exc:
            if isinstance(exc, NatsError) and not is_unavailable(exc):
                raise
            delay = backoff.next_delay()
            log.warning("waiting for NATS to bind the consumer", extra={"durable": spec.durable,
                                                                         "error": repr(exc), "retry_in": delay})
            await sleep_or_stop(stop, delay)
    return None


def _reconnects(bus: Bus) -> int:
    return int(bus.nc.stats.get("reconnects", 0))


async def _dispatch(message: Msg, spec: ConsumerSpec, handler: Handler) -> None:
    metadata = message.metadata
    attempt = metadata.num_delivered or 1
    try:
        event = decode(message.data)
    except (UnknownEventType, ValueError) as exc:
        log.error("undecodable event terminated", extra={"subject": message.subject, "error": str(exc)})
        await _settle(message.term())
        return
    delivery = Delivery(
        event=event,
        seq=metadata.sequence.stream,
        subject=message.subject,
        attempt=attempt,
        max_deliver=spec.max_deliver,
        _msg=message,
    )
    try:
        await handler(delivery)
    except TerminalError as exc:
        log.error("event terminated", extra=_context(delivery, exc))
        await _settle(message.term())
    except Exception as exc:
        delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
        log.warning("event will be retried", extra={**_context(delivery, exc), "delay": delay}, exc_info=True)
        await _settle(message.nak(delay=delay))
    else:
        await _settle(message.ack_sync())


async def _settle(acknowledgement: Awaitable[object]) -> None:
    """Send an ack/nak/term; when NATS is unreachable the server redelivers after ``ack_wait``."""
    try:
        await acknowledgement
    except (NatsError, OSError, TimeoutError) as exc:
        log.warning("acknowledgement not delivered; the server will redeliver", extra={"error": repr(exc)})


def _context(delivery: Delivery, exc: BaseException) -> dict[str, object]:
    return {
        "event_type": delivery.event.type_tag(),
        "event_id": delivery.event.event_id,
        "seq": delivery.seq,
        "attempt": delivery.attempt,
        "error": str(exc),
    }


async def until_bound(bound: asyncio.Event, consumer: asyncio.Task[None]) -> bool:
    """Wait until ``consume(..., bound=bound)`` is bound; False when ``consumer`` ended first."""
    waiter = asyncio.create_task(bound.wait())
    try:
        await asyncio.wait({waiter, consumer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return bound.is_set()
