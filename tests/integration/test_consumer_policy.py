"""The one exhaustion policy of libs/bus, on a real JetStream server: give up, record, dead-letter, move on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.consumer import ConsumerSpec, Delivery, consume, done_through
from autoloader_bus.deadletter import read_dead_letters
from autoloader_bus.event_store import EventStore
from autoloader_bus.follow import follow
from autoloader_contracts.events import IngestionActivated, IngestionPaused
from autoloader_contracts.subjects import PREFIX, events_of
from autoloader_core.errors import TerminalError
from autoloader_core.ids import new_id

pytestmark = pytest.mark.integration

SPEC = ConsumerSpec(
    durable="policy",
    filter_subjects=[events_of(IngestionActivated), events_of(IngestionPaused)],
    ack_wait_seconds=5,
    max_deliver=3,
    backoff_seconds=(0.1,),
)


def _event(event_type: type[IngestionActivated] | type[IngestionPaused], ingestion: str) -> Any:
    return event_type(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id="ten_policy",
        aggregate_id=ingestion,
        actor="test",
        correlation_id=new_id("cor"),
    )


def _activated(ingestion: str) -> IngestionActivated:
    return _event(IngestionActivated, ingestion)


def _paused(ingestion: str) -> IngestionPaused:
    return _event(IngestionPaused, ingestion)


@contextlib.asynccontextmanager
async def consuming(
    bus: Bus,
    handler: Callable[[Delivery], Awaitable[None]],
    give_up: Callable[[Delivery, Exception], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(bus, SPEC, handler, stop, give_up=give_up))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_message_failing_every_delivery_is_given_up_once_recorded_and_dead_lettered(bus: Bus) -> None:
    store = EventStore(bus)
    attempts: list[int] = []
    given_up: list[tuple[str, int, str]] = []
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        if delivery.event.aggregate_id == "ing_bad":
            attempts.append(delivery.attempt)
            raise RuntimeError("the disk is on fire")
        handled.append(delivery.event.aggregate_id)

    async def give_up(delivery: Delivery, exc: Exception) -> None:
        given_up.append((delivery.event.aggregate_id, delivery.attempt, str(exc)))

    bad_seq = await store.append(_activated("ing_bad"))
    async with consuming(bus, handler, give_up):
        await store.append(_activated("ing_good"))
        await until(lambda: len(given_up) == 1 and handled == ["ing_good"])
        await asyncio.sleep(1.0)  # no further delivery of the given-up message

    assert attempts == [1, 2, 3]
    assert given_up == [("ing_bad", 3, "the disk is on fire")]
    letters = await read_dead_letters(bus)
    assert letters.total == 1
    letter = letters.latest[0]
    assert (letter.consumer, letter.kind, letter.stream_seq, letter.attempts) == ("policy", "exhausted", bad_seq, 3)
    assert letter.event_type == IngestionActivated.type_tag()
    assert "the disk is on fire" in letter.reason
    assert await done_through(bus, SPEC.durable) >= bad_seq + 1


async def test_a_terminal_error_is_given_up_at_once(bus: Bus) -> None:
    store = EventStore(bus)
    given_up: list[int] = []

    async def handler(delivery: Delivery) -> None:
        raise TerminalError("this ingestion has no source")

    async def give_up(delivery: Delivery, exc: Exception) -> None:
        given_up.append(delivery.attempt)

    async with consuming(bus, handler, give_up):
        await store.append(_activated("ing_terminal"))
        await until(lambda: given_up == [1])
        await asyncio.sleep(0.5)  # a terminated message is not delivered again
    assert given_up == [1]
    letters = await read_dead_letters(bus)
    assert [(x.kind, x.reason) for x in letters.latest] == [("terminal", "this ingestion has no source")]


async def test_a_failing_give_up_hook_still_terminates_the_message(bus: Bus) -> None:
    store = EventStore(bus)
    attempts: list[int] = []

    async def handler(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        raise TerminalError("bad")

    async def give_up(delivery: Delivery, exc: Exception) -> None:
        raise RuntimeError("cannot record the failure either")

    seq = await store.append(_activated("ing_hook"))
    async with consuming(bus, handler, give_up):
        await until(lambda: attempts == [1])
        await asyncio.sleep(1.0)  # a terminated message is not delivered again
    assert attempts == [1]
    assert await done_through(bus, SPEC.durable) >= seq
    assert (await read_dead_letters(bus)).total == 1


async def test_an_undecodable_message_is_dead_lettered_and_the_next_one_handled(bus: Bus) -> None:
    store = EventStore(bus)
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.event.aggregate_id)

    subject = f"{PREFIX}.ten_policy.ingestion.ing_poison.{IngestionActivated.event_name()}"
    poison = await bus.js.publish(subject, b'{"type": "ingestion.activated.v99", "what": "garbage"}', stream=bus.stream)
    async with consuming(bus, handler):
        await store.append(_paused("ing_after"))
        await until(lambda: handled == ["ing_after"])

    letters = await read_dead_letters(bus)
    assert letters.total == 1
    letter = letters.latest[0]
    assert (letter.kind, letter.stream_seq, letter.subject) == ("undecodable", poison.seq, subject)
    assert "garbage" in (letter.data or "")
    # The aggregate with the poison message stays readable.
    assert await store.read("ten_policy", "ingestion", "ing_poison") == []


async def test_a_log_follower_skips_and_dead_letters_an_undecodable_message(bus: Bus) -> None:
    store = EventStore(bus)
    subject = f"{PREFIX}.ten_policy.ingestion.ing_poison.{IngestionActivated.event_name()}"
    await bus.js.publish(subject, b"not json at all", stream=bus.stream)
    after = await store.append(_activated("ing_followed"))
    stop = asyncio.Event()
    seen: list[int] = []
    async with contextlib.aclosing(follow(bus, [f"{PREFIX}.>"], after=0, stop=stop, reader="reader")) as batches:
        async for batch in batches:
            seen += [stored.seq for stored in batch]
            if after in seen:
                break
    assert seen == [after]
    letters = await read_dead_letters(bus)
    assert [(x.consumer, x.kind) for x in letters.latest] == [("reader", "undecodable")]


async def test_done_through_stays_below_a_message_still_being_retried(bus: Bus) -> None:
    store = EventStore(bus)
    release = asyncio.Event()
    attempts: list[int] = []

    async def handler(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if not release.is_set():
            raise RuntimeError("not yet")

    seq = await store.append(_activated("ing_slow"))
    async with consuming(bus, handler):
        await until(lambda: len(attempts) >= 1)
        assert await done_through(bus, SPEC.durable) < seq
        release.set()
        await until(lambda: len(attempts) >= 2)
        await asyncio.sleep(0.3)
        assert await done_through(bus, SPEC.durable) >= seq
    assert await done_through(bus, "no_such_consumer") == 0
