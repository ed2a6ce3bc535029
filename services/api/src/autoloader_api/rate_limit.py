"""Per-tenant request rate limits: one token bucket per tenant, in this process.

One api process serves the API (DESIGN §1), so an in-process bucket is exact; with several
replicas each enforces its own share (the limit per replica is what ``Settings`` says).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from litestar.exceptions import TooManyRequestsException


class RateLimited(TooManyRequestsException):
    """429: the tenant sent more requests than its bucket allows; ``retry_after`` whole seconds."""

    def __init__(self, retry_after: int, *, rate: float, burst: int) -> None:
        super().__init__(
            detail=(
                f"too many requests: this tenant may send {rate:g} requests per second "
                f"(bursts of up to {burst}); retry in {retry_after} s"
            ),
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets keyed by tenant: ``rate`` tokens per second refill up to ``burst``.

    Each request takes one token; a request finding less than one is refused with the time
    until a token is back. ``rate <= 0`` disables the limit.
    """

    def __init__(self, *, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()  # sync handlers may run in threads

    @property
    def enabled(self) -> bool:
        """Whether requests are limited at all."""
        return self.rate > 0

    def take(self, key: str) -> int | None:
        """Take one token of ``key``'s bucket; return ``None`` when granted, else the whole seconds to wait (>= 1)."""
        if not self.enabled:
            return None
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def check(self, key: str) -> None:
        """Take a token of ``key``'s bucket.

        Raises:
            RateLimited: The bucket is empty (429 with ``Retry-After``).
        """
        wait = self.take(key)
        if wait is not None:
            raise RateLimited(wait, rate=self.rate, burst=self.burst)
