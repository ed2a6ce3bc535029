"""The scheduler's leader lease on an in-memory compare-and-set store and a fake monotonic clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from autoloader_core.errors import ConflictError, TransientError
from autoloader_scheduler.lease import LEASE_KEY, LeaderLease

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Rec:
    value: bytes
    revision: int


class MemoryStore:
    """A KV bucket with the CAS semantics of JetStream (revisions grow across all keys)."""

    def __init__(self) -> None:
        self.records: dict[str, Rec] = {}
        self.last = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise TransientError("store down")

    def _write(self, key: str, value: bytes) -> int:
        self.last += 1
        self.records[key] = Rec(value, self.last)
        return self.last

    async def get(self, key: str) -> Rec | None:
        self._check()
        return self.records.get(key)

    async def create(self, key: str, value: bytes) -> int:
        self._check()
        if key in self.records:
            raise ConflictError("exists")
        return self._write(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int:
        self._check()
        current = self.records.get(key)
        if current is None or current.revision != revision:
            raise ConflictError("changed")
        return self._write(key, value)

    async def delete(self, key: str, revision: int) -> None:
        self._check()
        current = self.records.get(key)
        if current is None or current.revision != revision:
            raise ConflictError("changed")
        del self.records[key]


class Ticker:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pair(store: MemoryStore, ticker: Ticker) -> tuple[LeaderLease, LeaderLease]:
    return (LeaderLease(store, "a", lease=3.0, renew=1.0, monotonic=ticker),
            LeaderLease(store, "b", lease=3.0, renew=1.0, monotonic=ticker))


async def test_the_first_replica_takes_the_free_lease_and_the_second_follows() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, b = pair(store, ticker)
    assert await a.step()
    assert not await b.step()
    for _ in range(10):  # renewing every second keeps it
        ticker.now += 1.0
        assert await a.step()
        assert not await b.step()
    assert b"\"holder\":\"a\"" in store.records[LEASE_KEY].value


async def test_a_follower_takes_over_a_lease_not_renewed_for_the_lease_time() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, b = pair(store, ticker)
    changes: list[bool] = []
    b.on_change = changes.append
    await a.step()
    assert not await b.step()  # b sees a's revision from now on
    # a is killed: no renewal, no release.
    ticker.now += 2.0
    assert not a.is_leader  # a's own view lapsed (lease - renew after its last renewal)
    assert not await b.step()
    ticker.now += 1.0
    assert await b.step()  # 3 s of the same revision: lapsed, taken over
    assert changes == [True]
    assert b"\"holder\":\"b\"" in store.records[LEASE_KEY].value
    # a comes back: its renewal fails (b wrote since), it stays a follower.
    assert not await a.step()
    assert not await a.step()


async def test_the_holder_steps_down_before_anyone_can_take_over() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, b = pair(store, ticker)
    await a.step()
    await b.step()
    store.down = True  # a cannot renew (NATS partitioned from it)
    leader_until = None
    for tenth in range(1, 60):
        ticker.now = 100.0 + tenth / 10
        if not a.is_leader and leader_until is None:
            leader_until = ticker.now
    assert leader_until is not None
    assert leader_until <= 102.0 + 1e-9
    store.down = False
    ticker.now = 103.0
    assert await b.step()
    assert not a.is_leader


async def test_a_clean_release_lets_the_follower_take_over_at_once() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, b = pair(store, ticker)
    await a.step()
    await b.step()
    await a.release()
    assert not a.is_leader
    assert LEASE_KEY not in store.records
    assert await b.step()


async def test_of_two_followers_only_one_takes_a_lapsed_lease() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, b = pair(store, ticker)
    c = LeaderLease(store, "c", lease=3.0, renew=1.0, monotonic=ticker)
    await a.step()
    await b.step()
    await c.step()
    ticker.now += 3.0
    results = [await b.step(), await c.step()]
    assert sorted(results) == [False, True]


async def test_an_unreachable_store_is_not_an_error() -> None:
    store, ticker = MemoryStore(), Ticker()
    a, _ = pair(store, ticker)
    store.down = True
    assert not await a.step()
    store.down = False
    assert await a.step()


def test_the_renew_interval_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError, match="shorter"):
        LeaderLease(MemoryStore(), "a", lease=1.0, renew=1.0)
