"""The trace context rides with events and RPC requests on a real NATS server.

An event appended inside a span is handled inside a child of that span (durable consumer), and
followers see the context too; an RPC request's server span is a child of the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.consumer import ConsumerSpec, Delivery, consume
from autoloader_bus.event_store import EventStore, StoredEvent
from autoloader_bus.follow import follow
from autoloader_bus.rpc import call, serve
from autoloader_contracts.events import IngestionActivated
from autoloader_contracts.subjects import events_of
from autoloader_core.ids import new_id
from autoloader_core.tracing import SERVICE_ATTRIBUTE, current_ids, set_service, span
from tests.tracing_support import attributes, parent_id, recorded_spans

pytestmark = pytest.mark.integration


def _activated() -> IngestionActivated:
    return IngestionActivated(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id="ten_trace",
        aggregate_id=new_id("ing"),
        actor="test",
        correlation_id=new_id("cor"),
    )


async def test_an_event_is_handled_in_a_child_span_of_the_one_that_appended_it(bus: Bus) -> None:
    seen: list[tuple[str, str] | None] = []
    stop = asyncio.Event()
    spec = ConsumerSpec(durable="traced", filter_subjects=[events_of(IngestionActivated)])

    handled_once = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        seen.append(current_ids())
        handled_once.set()

    with recorded_spans() as spans:
        set_service("api")
        with span("POST /api/v1/ingestions/{id}/activate") as request:
            event = _activated()
            await EventStore(bus).append(event)
        consumer = asyncio.create_task(consume(bus, spec, handler, stop))
        async with asyncio.timeout(15):
            await handled_once.wait()
        stop.set()
        await consumer
        followed = await _first_followed(bus)
    stored = (await EventStore(bus).read_subject(events_of(IngestionActivated)))[0]

    handled = next(s for s in spans if s.name == "handle IngestionActivated")
    trace_id = request.get_span_context().trace_id
    assert handled.context.trace_id == trace_id
    assert parent_id(handled) == request.get_span_context().span_id
    assert attributes(handled)["messaging.consumer.group.name"] == "traced"
    assert attributes(handled)["autoloader.correlation_id"] == event.correlation_id
    # The handler ran inside the consumer span: its logs carry that span's ids.
    assert seen == [(format(trace_id, "032x"), format(handled.context.span_id, "016x"))]
    assert followed.event.event_id == event.event_id
    assert followed.trace["traceparent"].split("-")[1] == format(trace_id, "032x")
    assert stored.trace == followed.trace


async def _first_followed(bus: Bus) -> StoredEvent:
    following = follow(bus, [events_of(IngestionActivated)], after=0, stop=asyncio.Event(), reader="test")
    async with contextlib.aclosing(following) as batches:
        async for batch in batches:
            if batch:
                return batch[0]
    raise AssertionError("the follower yielded nothing")


async def test_an_rpc_is_served_in_a_child_span_of_the_call(bus: Bus) -> None:
    served_in: list[tuple[str, str] | None] = []

    async def answer(request: dict[str, object]) -> dict[str, object]:
        served_in.append(current_ids())
        return {"echo": request["ping"]}

    set_service("loader")
    subscription = await serve(bus, "test.rpc.echo", answer, queue="test")
    try:
        with recorded_spans() as spans, span("caller") as caller:
            assert await call(bus, "test.rpc.echo", {"ping": 1}, timeout=5) == {"echo": 1}
    finally:
        await subscription.unsubscribe()

    by_name = {s.name: s for s in spans}
    client, server = by_name["call test.rpc.echo"], by_name["serve test.rpc.echo"]
    assert parent_id(client) == caller.get_span_context().span_id
    assert parent_id(server) == client.context.span_id
    assert server.context.trace_id == caller.get_span_context().trace_id
    assert attributes(server)[SERVICE_ATTRIBUTE] == "loader"
    assert served_in == [(format(server.context.trace_id, "032x"), format(server.context.span_id, "016x"))]
