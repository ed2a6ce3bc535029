"""Numbers about the event stream for the metrics: durable consumers' backlog, dead letters."""

from __future__ import annotations

import msgspec
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.connection import Bus
from autoloader_bus.deadletter import dead_letter_stream
from autoloader_core.errors import TransientError


class ConsumerStats(msgspec.Struct, frozen=True, kw_only=True):
    """One durable consumer's backlog.

    Attributes:
        consumer: The durable name (bounded: one per service role, e.g. ``loader``).
        pending: Messages matching its filters not delivered yet.
        ack_pending: Messages delivered and not acknowledged yet.
        redelivered: Messages delivered more than once and not acknowledged yet.
    """

    consumer: str
    pending: int
    ack_pending: int
    redelivered: int


async def durable_consumers(bus: Bus) -> list[ConsumerStats]:
    """Return the backlog of every durable consumer on the event stream.

    Ephemeral consumers (the log followers) are left out: their names are random, a label made of
    them would grow without bound.

    Raises:
        TransientError: NATS did not answer.
    """
    try:
        infos = await bus.js.consumers_info(bus.stream)
    except (NatsTimeout, NatsError) as exc:
        raise TransientError(f"consumers of {bus.stream} could not be read: {exc}") from exc
    return [
        ConsumerStats(
            consumer=str(info.config.durable_name),
            pending=int(info.num_pending or 0),
            ack_pending=int(info.num_ack_pending or 0),
            redelivered=int(info.num_redelivered or 0),
        )
        for info in infos
        if info.config.durable_name
    ]


async def dead_letter_count(bus: Bus) -> int:
    """Return how many dead letters are kept (0 when the dead-letter stream does not exist yet).

    Raises:
        TransientError: NATS did not answer.
    """
    try:
        info = await bus.js.stream_info(dead_letter_stream(bus))
    except JsNotFound:
        return 0
    except (NatsTimeout, NatsError) as exc:
        raise TransientError(f"the dead-letter stream could not be read: {exc}") from exc
    return int(info.state.messages)
