"""Follow the event log in stream order from a known position (replay, then live).

For single-writer readers that keep their own position (the projector's checkpoint row, the
scheduler's in-memory schedules): an ordered consumer delivers events strictly in sequence,
and a reader that fails simply follows again from its last position. A message that is not a
known event is dead-lettered and skipped: it must not stop the reader for good.

An ordered consumer is ephemeral: a NATS restart may drop it, and nats-py's own recovery gives
up if the server is still down when it notices. So after every reconnect the follower makes a
fresh ordered consumer from the last sequence it yielded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from autoloader_bus.connection import Bus
from autoloader_bus.deadletter import record_dead_letter, undecodable
from autoloader_bus.event_store import StoredEvent, trace_headers
from autoloader_contracts.codec import UnknownEventType, decode

log = logging.getLogger(__name__)

MAX_BATCH = 500
PENDING_MESSAGES = 10 * MAX_BATCH
V1_ACK_TOKENS, V2_ACK_TOKENS = 9, 12
IDLE_SECONDS = 0.05


async def follow(
    bus: Bus,
    filter_subjects: Sequence[str],
    *,
    after: int,
    stop: asyncio.Event,
    reader: str,
    pending_msgs_limit: int = PENDING_MESSAGES,
) -> AsyncGenerator[list[StoredEvent], None]:
    """Yield batches of events with sequence > ``after``, oldest first, until ``stop`` is set.

    A batch holds what arrived together (up to 500 events), so a reader can apply it in one
    transaction; during replay batches are large, when live they are usually single events. An
    empty batch means "idle for a moment" and lets the reader do housekeeping. ``reader`` names
    the reader in the dead letters of messages it skips. ``pending_msgs_limit`` bounds the
    messages buffered in the client before the reader takes them: a reader that can fall behind
    a burst (the scheduler reading back its own 10,000 ticks) needs room for the whole burst, or
    nats-py drops messages as a slow consumer and the ordered consumer has to start over.

    Raises:
        nats.errors.Error: NATS cannot be reached to create the consumer (follow again later).
    """
    position = after
    while not stop.is_set():
        subscription = await _subscribe(bus, filter_subjects, after=position, pending=pending_msgs_limit)
        reconnects = _reconnects(bus)
        try:
            while not stop.is_set():
                if _reconnects(bus) != reconnects:
                    log.info("NATS reconnected; following the log again", extra={"position": position})
                    break
                batch = await _next_batch(bus, subscription, stop, reader)
                if batch:
                    position = batch[-1].seq
                yield batch
        finally:
            with contextlib.suppress(NatsError, OSError, TimeoutError):
                await asyncio.wait_for(subscription.unsubscribe(), timeout=2.0)


async def _subscribe(bus: Bus, filter_subjects: Sequence[str], *, after: int, pending: int) -> Any:
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        filter_subjects=list(filter_subjects),
    )
    return await bus.js.subscribe(
        filter_subjects[0] if len(filter_subjects) == 1 else "",
        stream=bus.stream,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=pending,
    )


def _reconnects(bus: Bus) -> int:
    return int(bus.nc.stats.get("reconnects", 0))


async def _next_batch(bus: Bus, subscription: object, stop: asyncio.Event, reader: str) -> list[StoredEvent]:
    batch: list[StoredEvent] = []
    timeout = 0.5
    while len(batch) < MAX_BATCH and not stop.is_set():
        try:
            msg = await subscription.next_msg(timeout=timeout)  # type: ignore[attr-defined]
        except (TimeoutError, NatsTimeout):
            break
        await _append(bus, batch, msg, reader)
        # What is already buffered is taken without waiting: next_msg costs a task and a timer per
        # message, more than decoding the event (a burst of 10,000 events would pay it 10,000 times).
        for buffered in _buffered(subscription, MAX_BATCH - len(batch)):
            await _append(bus, batch, buffered, reader)
        timeout = IDLE_SECONDS
    return batch


def _buffered(subscription: Any, limit: int) -> list[Any]:
    """Take up to ``limit`` messages the subscription already holds, without waiting.

    Uses nats-py's pending queue as ``next_msg`` does (and its bookkeeping: pending bytes, and
    ``task_done`` for the ordered consumer's flow control); without one, returns nothing.
    """
    queue = getattr(subscription, "_pending_queue", None)
    if not isinstance(queue, asyncio.Queue) or not hasattr(subscription, "_pending_size"):
        return []
    taken: list[Any] = []
    while len(taken) < limit and not queue.empty():
        msg = queue.get_nowait()
        subscription._pending_size -= len(msg.data)
        queue.task_done()
        taken.append(msg)
    return taken


def _stream_sequence(msg: Any) -> int:
    """The message's stream sequence, read from its ack subject without building ``msg.metadata``.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…`` (9 tokens) or, with domain and
    account, ``$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>.…`` (12+).
    """
    tokens: list[str] = msg.reply.split(".") if msg.reply else []
    if len(tokens) == V1_ACK_TOKENS and tokens[:2] == ["$JS", "ACK"]:
        return int(tokens[5])
    if len(tokens) >= V2_ACK_TOKENS - 1 and tokens[:2] == ["$JS", "ACK"]:
        return int(tokens[7])
    return int(msg.metadata.sequence.stream)  # anything else: let nats-py parse (or refuse) it


async def _append(bus: Bus, batch: list[StoredEvent], msg: Any, reader: str) -> None:
    seq = _stream_sequence(msg)
    try:
        event = decode(msg.data)
        batch.append(StoredEvent(seq=seq, subject=msg.subject, event=event, trace=trace_headers(msg.headers)))
    except (UnknownEventType, ValueError) as exc:
        await record_dead_letter(bus, undecodable(reader, subject=msg.subject, seq=seq, data=msg.data, error=str(exc)))
