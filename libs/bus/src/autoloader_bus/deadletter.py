"""Dead letters: messages a service gave up on, kept with the reason for an operator to see.

A message is dead-lettered when it cannot be decoded (a poison message would otherwise be
redelivered forever) or when its handler gave it up (a terminal error, or a failure on its last
delivery). The record goes to its own stream, outside the event log's subjects, so no reader of
the log ever sees it; the publish carries a ``Nats-Msg-Id`` of consumer and stream sequence, so a
message dead-lettered twice (a crash between the record and the ``term``) is recorded once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

import msgspec
from nats.errors import Error as NatsError
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.connection import Bus
from autoloader_core.clock import utcnow

log = logging.getLogger(__name__)

DEAD_LETTER_PREFIX = "deadletter"
MAX_DEAD_LETTERS = 10_000
MAX_AGE_SECONDS = 30 * 24 * 3600.0
MAX_DATA_CHARS = 4096

DeadLetterKind = Literal["undecodable", "terminal", "exhausted"]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One message given up by one consumer, and why.

    Attributes:
        consumer: Durable consumer (or log reader) that gave the message up.
        kind: ``undecodable`` (not a known event), ``terminal`` (a terminal error),
            ``exhausted`` (it failed on its last delivery).
        reason: What went wrong, for the operator.
        subject: The message's subject in the event log.
        stream_seq: Its sequence in the event log.
        attempts: Deliveries made before giving up.
        dead_at: When it was given up.
        event_type: The event's type tag when it could be decoded.
        event_id: The event's id when it could be decoded.
        tenant_id: The event's tenant when it could be decoded.
        data: The start of the raw message when it could not be decoded.
    """

    consumer: str
    kind: DeadLetterKind
    reason: str
    subject: str
    stream_seq: int
    attempts: int
    dead_at: datetime
    event_type: str | None = None
    event_id: str | None = None
    tenant_id: str | None = None
    data: str | None = None


def dead_letter_stream(bus: Bus) -> str:
    """The name of the stream holding ``bus``'s dead letters."""
    return f"{bus.stream}_DEAD"


def _subject(bus: Bus, consumer: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{bus.stream}.{consumer}"


async def ensure_dead_letters(bus: Bus) -> None:
    """Create the dead-letter stream if missing (idempotent; bounded in count and age)."""
    name = dead_letter_stream(bus)
    try:
        await bus.js.stream_info(name)
    except JsNotFound:
        await bus.js.add_stream(
            StreamConfig(
                name=name,
                subjects=[f"{DEAD_LETTER_PREFIX}.{bus.stream}.>"],
                storage=StorageType.FILE,
                max_msgs=MAX_DEAD_LETTERS,
                max_age=MAX_AGE_SECONDS,
                discard=DiscardPolicy.OLD,
                allow_direct=True,
            )
        )


async def record_dead_letter(bus: Bus, letter: DeadLetter) -> bool:
    """Store ``letter``; return False (logged) when NATS cannot take it now.

    Never raises: a message being given up must be terminated even when its record fails, or it
    would be redelivered forever.
    """
    headers = {"Nats-Msg-Id": f"{letter.consumer}:{letter.stream_seq}"}
    try:
        await ensure_dead_letters(bus)
        await bus.js.publish(_subject(bus, letter.consumer), msgspec.json.encode(letter), headers=headers, timeout=5)
    except (NatsError, OSError) as exc:
        log.error(
            "dead letter could not be recorded",
            extra={"consumer": letter.consumer, "seq": letter.stream_seq, "error": str(exc)},
        )
        return False
    log.error(
        "message dead-lettered",
        extra={"consumer": letter.consumer, "seq": letter.stream_seq, "kind": letter.kind, "reason": letter.reason},
    )
    return True


def undecodable(consumer: str, *, subject: str, seq: int, data: bytes, error: str, attempts: int = 1) -> DeadLetter:
    """The dead letter of a message that is not a known event."""
    return DeadLetter(
        consumer=consumer,
        kind="undecodable",
        reason=f"not a known event: {error}",
        subject=subject,
        stream_seq=seq,
        attempts=attempts,
        dead_at=utcnow(),
        data=data[:MAX_DATA_CHARS].decode("utf-8", errors="replace"),
    )


class DeadLetterSummary(msgspec.Struct, frozen=True, kw_only=True):
    """How many dead letters are kept, and the latest ones (newest first)."""

    total: int
    latest: list[DeadLetter]


async def read_dead_letters(bus: Bus, *, limit: int = 20) -> DeadLetterSummary:
    """Return the number of dead letters kept and the ``limit`` newest."""
    name = dead_letter_stream(bus)
    try:
        info = await bus.js.stream_info(name)
    except JsNotFound:
        return DeadLetterSummary(total=0, latest=[])
    latest: list[DeadLetter] = []
    seq = int(info.state.last_seq)
    first = int(info.state.first_seq)
    while seq >= first and len(latest) < limit:
        try:
            raw = await bus.js.get_msg(name, seq=seq)
        except JsNotFound:
            seq -= 1
            continue
        if raw.data:
            latest.append(msgspec.json.decode(raw.data, type=DeadLetter))
        seq -= 1
    return DeadLetterSummary(total=int(info.state.messages), latest=latest)
