"""Per-tenant token buckets, driven by a fake clock."""

from __future__ import annotations

import pytest

from autoloader_api.rate_limit import RateLimited, TokenBuckets

pytestmark = pytest.mark.unit


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_granted_then_refused_until_tokens_refill() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=3, monotonic=clock)

    assert [buckets.take("t1") for _ in range(3)] == [None, None, None]
    assert buckets.take("t1") == 1  # half a second to the next token: whole seconds, at least 1
    clock.now += 0.5
    assert buckets.take("t1") is None
    assert buckets.take("t1") == 1


def test_retry_after_is_the_whole_seconds_until_one_token() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=0.1, burst=1, monotonic=clock)

    assert buckets.take("t1") is None
    assert buckets.take("t1") == 10
    clock.now += 7.5
    assert buckets.take("t1") == 3  # 2.5 s left, rounded up
    clock.now += 2.5
    assert buckets.take("t1") is None


def test_tenants_have_their_own_buckets() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=1, monotonic=clock)

    assert buckets.take("alice") is None
    assert buckets.take("alice") == 1
    assert buckets.take("bob") is None


def test_refill_never_exceeds_the_burst() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=10.0, burst=2, monotonic=clock)
    buckets.take("t1")
    clock.now += 3600  # an idle hour refills to the burst, not to 36,000

    assert [buckets.take("t1") for _ in range(3)] == [None, None, 1]


def test_rate_zero_disables_the_limit() -> None:
    buckets = TokenBuckets(rate=0, burst=1, monotonic=FakeClock())

    assert not buckets.enabled
    assert all(buckets.take("t1") is None for _ in range(1000))


def test_check_raises_429_with_retry_after_and_what_the_limit_is() -> None:
    buckets = TokenBuckets(rate=0.5, burst=1, monotonic=FakeClock())
    buckets.check("t1")

    with pytest.raises(RateLimited) as refused:
        buckets.check("t1")

    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "2"}
    assert "0.5 requests per second" in refused.value.detail
    assert "retry in 2 s" in refused.value.detail
