"""Durable pull consumers with one acknowledgement policy for every service.

A handler returns normally -> ack. It raises :class:`TransientError` (or an unexpected
exception) -> nak with a backoff delay, redelivered up to ``max_deliver`` times. It raises
:class:`TerminalError` -> terminate (logged). Handlers see ``delivery.is_last_attempt`` so they
can record a failure event before the message is given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from autoloader_bus.connection import Bus
from autoloader_contracts.codec import UnknownEventType, decode
from autoloader_contracts.events import Event
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


async def consume(bus: Bus, spec: ConsumerSpec, handler: Handler, stop: asyncio.Event) -> None:
    """Deliver events matching ``spec`` to ``handler`` one at a time until ``stop`` is set."""
    await ensure_consumer(bus, spec)
    subscription = await bus.js.pull_subscribe_bind(durable=spec.durable, stream=bus.stream)
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(spec.batch_size, timeout=1.0)
            except NatsTimeout:
                continue
            for message in messages:
                await _dispatch(message, spec, handler)
    finally:
        await subscription.unsubscribe()


async def _dispatch(message: Msg, spec: ConsumerSpec, handler: Handler) -> None:
    metadata = message.metadata
    attempt = metadata.num_delivered or 1
    try:
        event = decode(message.data)
    except (UnknownEventType, ValueError) as exc:
        log.error("undecodable event terminated", extra={"subject": message.subject, "error": str(exc)})
        await message.term()
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
        await message.term()
    except Exception as exc:
        delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
        log.warning("event will be retried", extra={**_context(delivery, exc), "delay": delay}, exc_info=True)
        await message.nak(delay=delay)
    else:
        await message.ack_sync()


def _context(delivery: Delivery, exc: BaseException) -> dict[str, object]:
    return {
        "event_type": delivery.event.type_tag(),
        "event_id": delivery.event.event_id,
        "seq": delivery.seq,
        "attempt": delivery.attempt,
        "error": str(exc),
    }
