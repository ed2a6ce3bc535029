"""Event store behaviour on a real JetStream server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts.events import IngestionActivated, IngestionPaused, RunRequested
from autoloader_core.errors import ConflictError, TransientError
from autoloader_core.ids import new_id

pytestmark = pytest.mark.integration


def _activated(tenant: str, ingestion: str) -> IngestionActivated:
    return IngestionActivated(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id=tenant,
        aggregate_id=ingestion,
        actor="test",
        correlation_id=new_id("cor"),
    )


async def test_concurrent_appends_to_one_aggregate_exactly_one_wins(bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    first = await store.append(_activated(tenant, ingestion), expected_version=0)

    async def attempt() -> int | Exception:
        try:
            return await store.append(_activated(tenant, ingestion), expected_version=first)
        except ConflictError as exc:
            return exc

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1
    assert len(losers) == 7
    assert "changed concurrently" in str(losers[0])
    history = await store.read(tenant, "ingestion", ingestion)
    assert [e.seq for e in history] == [first, winners[0]]


async def test_retried_append_is_not_duplicated(bus: Bus) -> None:
    store = EventStore(bus)
    tenant, ingestion = new_id("tnt"), new_id("ing")
    event = _activated(tenant, ingestion)
    seq = await store.append(event, expected_version=0)
    # The same event again, as a client retrying after a lost ack would send it.
    assert await store.append(event, expected_version=0) == seq
    assert await store.append(event) == seq
    assert [e.event for e in await store.read(tenant, "ingestion", ingestion)] == [event]


async def test_new_aggregate_expectation_refuses_existing_one(bus: Bus) -> None:
    store = EventStore(bus)
    tenant, run = new_id("tnt"), new_id("run")
    requested = RunRequested(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id=tenant,
        aggregate_id=run,
        actor="test",
        correlation_id=run,
        ingestion_id=new_id("ing"),
        trigger="manual",
    )
    await store.append(requested, expected_version=0)
    again = RunRequested(
        **{**{f: getattr(requested, f) for f in requested.__struct_fields__}, "event_id": new_id("evt")}
    )
    with pytest.raises(ConflictError):
        await store.append(again, expected_version=0)


async def test_read_returns_only_the_aggregate_in_order(bus: Bus) -> None:
    store = EventStore(bus)
    tenant = new_id("tnt")
    a, b = new_id("ing"), new_id("ing")
    await store.append(_activated(tenant, a), expected_version=0)
    await store.append(_activated(tenant, b), expected_version=0)
    paused = IngestionPaused(
        event_id=new_id("evt"),
        occurred_at=datetime.now(UTC),
        tenant_id=tenant,
        aggregate_id=a,
        actor="test",
        correlation_id="c",
    )
    history = await store.read(tenant, "ingestion", a)
    await store.append(paused, expected_version=history[-1].seq)
    events = [s.event for s in await store.read(tenant, "ingestion", a)]
    assert [type(e).__name__ for e in events] == ["IngestionActivated", "IngestionPaused"]
    assert await store.read(tenant, "ingestion", new_id("ing")) == []


def _requested(tenant: str, run: str, event_id: str | None = None) -> RunRequested:
    return RunRequested(event_id=event_id or new_id("evt"), occurred_at=datetime.now(UTC), tenant_id=tenant,
                        aggregate_id=run, actor="test", correlation_id=run, ingestion_id=new_id("ing"),
                        trigger="manual")


async def test_append_many_judges_each_event_like_append(bus: Bus) -> None:
    store = EventStore(bus)
    tenant = new_id("tnt")
    retried = _requested(tenant, new_id("run"))
    taken = _requested(tenant, new_id("run"))
    retried_seq = await store.append(retried, expected_version=0)
    await store.append(taken, expected_version=0)
    fresh = [_requested(tenant, new_id("run")) for _ in range(600)]
    conflicting = _requested(tenant, taken.aggregate_id)  # another event for an existing run
    events = [*fresh[:300], retried, conflicting, *fresh[300:]]

    outcomes = await store.append_many(events, expected_version=0, in_flight=64)

    assert len(outcomes) == len(events)
    assert outcomes[300] == retried_seq  # a retry of an appended event: its sequence, not a conflict
    assert isinstance(outcomes[301], ConflictError)
    appended = [o for i, o in enumerate(outcomes) if i not in (300, 301)]
    assert all(isinstance(o, int) for o in appended)
    assert len(set(appended)) == len(fresh)
    for event, seq in zip(events[:3], outcomes[:3], strict=True):
        assert [(s.seq, s.event) for s in await store.read(tenant, "run", event.aggregate_id)] == [(seq, event)]
    # Everything again, as a scheduler retrying the whole batch would: no duplicates, same sequences.
    again = await store.append_many(events, expected_version=0)
    assert [o for o in again if isinstance(o, int)] == [o for o in outcomes if isinstance(o, int)]


async def test_append_many_without_a_connection_appends_nothing(bus: Bus, nats_url: str) -> None:
    other = await Bus.connect(nats_url, stream=bus.stream, name="closed")
    await other.close()
    outcomes = await EventStore(other).append_many([_requested(new_id("tnt"), new_id("run"))], expected_version=0)
    assert [type(o) for o in outcomes] == [TransientError]
