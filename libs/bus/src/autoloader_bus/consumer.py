"""Durable pull consumers with one acknowledgement policy for every service.

A handler returns normally -> ack. It raises :class:`TransientError` (or an unexpected
exception) -> nak with a backoff delay, redelivered up to ``max_deliver`` times. It raises
:class:`TerminalError`, or fails on the last delivery -> the message is *given up*: the
consumer's ``give_up`` hook records the failure as a domain event (so no run waits for an
outcome that will never come), the message is dead-lettered with the reason, then terminated.
A message that is not a known event is dead-lettered and terminated at once. No handler writes
its own "last attempt" logic.

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
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.connection import Bus, is_unavailable
from autoloader_bus.deadletter import DeadLetter, record_dead_letter, undecodable
from autoloader_bus.event_store import trace_headers
from autoloader_contracts.codec import UnknownEventType, decode
from autoloader_contracts.events import Event
from autoloader_core.backoff import Backoff, sleep_or_stop
from autoloader_core.clock import utcnow
from autoloader_core.errors import TerminalError, TransientError
from autoloader_core.logging import log_fields
from autoloader_core.tracing import SpanKind, extracted, span

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
GiveUp = Callable[[Delivery, Exception], Awaitable[None]]
"""Records the failure outcome of a message that is being given up (e.g. ``BatchFailed``)."""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer: its name, filters and redelivery policy."""

    durable: str
    filter_subjects: Sequence[str]
    ack_wait_seconds: float = 60.0
    max_deliver: int = 5
    batch_size: int = 1
    max_ack_pending: int = 1000
    backoff_seconds: Sequence[float] = BACKOFF_SECONDS
    """Delay before the n-th redelivery after a failure (the last value repeats)."""


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
    bus: Bus,
    spec: ConsumerSpec,
    handler: Handler,
    stop: asyncio.Event,
    *,
    give_up: GiveUp | None = None,
    bound: asyncio.Event | None = None,
) -> None:
    """Deliver events matching ``spec`` to ``handler`` one at a time until ``stop`` is set.

    Args:
        bus: The connected bus.
        spec: The durable consumer.
        handler: Handles one delivery (see the module doc for the acknowledgement policy).
        stop: Set to stop consuming.
        give_up: Records the failure outcome of a message being given up; it must be idempotent
            (a crash before the ``term`` delivers the message again).
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
                await _dispatch(bus, message, spec, handler, give_up)
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


async def _dispatch(bus: Bus, message: Msg, spec: ConsumerSpec, handler: Handler, give_up: GiveUp | None) -> None:
    metadata = message.metadata
    attempt = metadata.num_delivered or 1
    try:
        event = decode(message.data)
    except (UnknownEventType, ValueError) as exc:
        letter = undecodable(
            spec.durable,
            subject=message.subject,
            seq=metadata.sequence.stream,
            data=message.data,
            error=str(exc),
            attempts=attempt,
        )
        await record_dead_letter(bus, letter)
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
        await _handle_traced(handler, delivery, spec.durable, message)
    except Exception as exc:
        if isinstance(exc, TerminalError) or delivery.is_last_attempt:
            await _give_up(bus, spec, delivery, exc, give_up)
            await _settle(message.term())
            return
        delay = spec.backoff_seconds[min(attempt, len(spec.backoff_seconds)) - 1]
        log.warning("event will be retried", extra={**_context(delivery, exc), "delay": delay}, exc_info=True)
        await _settle(message.nak(delay=delay))
    else:
        await _settle(message.ack_sync())


async def _handle_traced(handler: Handler, delivery: Delivery, durable: str, message: Msg) -> None:
    """Run ``handler`` in a CONSUMER span continuing the trace the event was appended under."""
    event = delivery.event
    attributes = {
        "messaging.system": "nats",
        "messaging.destination.name": delivery.subject,
        "messaging.consumer.group.name": durable,
        "messaging.message.id": event.event_id,
        "autoloader.delivery_attempt": delivery.attempt,
        "autoloader.event_type": event.type_tag(),
        "autoloader.correlation_id": event.correlation_id,
        "autoloader.tenant_id": event.tenant_id,
    }
    parent = extracted(trace_headers(message.headers))
    with (
        log_fields(event_id=event.event_id, event_type=event.type_tag(), correlation_id=event.correlation_id),
        span(f"handle {type(event).__name__}", kind=SpanKind.CONSUMER, parent=parent, attributes=attributes),
    ):
        await handler(delivery)


async def _settle(acknowledgement: Awaitable[object]) -> None:
    """Send an ack/nak/term; when NATS is unreachable the server redelivers after ``ack_wait``."""
    try:
        await acknowledgement
    except (NatsError, OSError, TimeoutError) as exc:
        log.warning("acknowledgement not delivered; the server will redeliver", extra={"error": repr(exc)})


async def _give_up(
    bus: Bus, spec: ConsumerSpec, delivery: Delivery, exc: Exception, give_up: GiveUp | None
) -> None:
    """Record the failure outcome, then the dead letter; neither may keep the message alive."""
    terminal = isinstance(exc, TerminalError)
    log.error(
        "event terminated" if terminal else f"event given up after {delivery.attempt} deliveries",
        extra=_context(delivery, exc),
        exc_info=not terminal,
    )
    if give_up is not None:
        try:
            await give_up(delivery, exc)
        except Exception:
            # The run watchdog closes what this outcome would have closed.
            log.exception("the failure outcome could not be recorded", extra=_context(delivery, exc))
    await record_dead_letter(bus, given_up(spec.durable, delivery, exc))


def given_up(consumer: str, delivery: Delivery, exc: Exception) -> DeadLetter:
    """The dead letter of a decoded event that ``consumer`` gave up on."""
    terminal = isinstance(exc, TerminalError)
    return DeadLetter(
        consumer=consumer,
        kind="terminal" if terminal else "exhausted",
        reason=str(exc) or type(exc).__name__,
        subject=delivery.subject,
        stream_seq=delivery.seq,
        attempts=delivery.attempt,
        dead_at=utcnow(),
        event_type=delivery.event.type_tag(),
        event_id=delivery.event.event_id,
        tenant_id=delivery.event.tenant_id,
    )


async def done_through(bus: Bus, durable: str) -> int:
    """The stream sequence up to which ``durable`` is done with every message it takes.

    Done means acknowledged, terminated or given up: nothing at or below it will be delivered
    to that consumer again. 0 when the consumer does not exist yet.

    Raises:
        TransientError: NATS did not answer.
    """
    try:
        info = await bus.js.consumer_info(bus.stream, durable)
    except JsNotFound:
        return 0
    except (NatsTimeout, NatsError) as exc:
        raise TransientError(f"consumer {durable} could not be read: {exc}") from exc
    if info.num_ack_pending:
        return int(info.ack_floor.stream_seq) if info.ack_floor else 0
    return int(info.delivered.stream_seq) if info.delivered else 0


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
