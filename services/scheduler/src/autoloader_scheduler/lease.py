"""Leader lease: of several scheduler replicas only the holder fires ticks.

The lease is one key (``leader``) in the JetStream KV bucket
:data:`~autoloader_contracts.subjects.SCHEDULER_LEASE_BUCKET`, written only by compare-and-set
on its revision. The holder renews it every ``renew`` seconds. Lapse is judged by the reader's
own monotonic clock, never by comparing timestamps of two machines: a replica that sees the same
revision for ``lease`` seconds takes the key over (CAS on that revision; of several, one wins).
The holder counts itself leader only until ``lease - renew`` seconds after its last renewal was
*sent*, so it steps down before any follower can take over, even when it cannot reach NATS.
A replica stopping cleanly deletes the key, so a follower takes over at its next attempt.

The lease is not the only guard: a scheduled run's id is derived from the ingestion and due
time and appended with ``expected_version=0``, so even two leaders cannot request a tick twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec

from autoloader_core.clock import utcnow
from autoloader_core.errors import ConflictError, TransientError

log = logging.getLogger(__name__)

LEASE_KEY = "leader"
LEASE_SECONDS = 3.0
RENEW_SECONDS = 1.0


class Record(Protocol):
    """A key's value and revision (``autoloader_bus.kv.Record``)."""

    @property
    def value(self) -> bytes: ...

    @property
    def revision(self) -> int: ...


class LeaseStore(Protocol):
    """Compare-and-set access to one KV bucket (``autoloader_bus.kv.CasBucket``).

    Every method raises ``ConflictError`` when the revision does not match and ``TransientError``
    when the store cannot be reached.
    """

    async def get(self, key: str) -> Record | None: ...

    async def create(self, key: str, value: bytes) -> int: ...

    async def update(self, key: str, value: bytes, revision: int) -> int: ...

    async def delete(self, key: str, revision: int) -> None: ...


class LeaseHolder(msgspec.Struct, frozen=True):
    """What the lease key says (for people and tools; the logic reads only its revision)."""

    holder: str
    pid: int
    host: str
    renewed_at: datetime
    lease_seconds: float


def instance_name() -> str:
    """This process's replica name, ``<host>-<pid>`` like its heartbeat."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class _Seen:
    revision: int
    since: float


class LeaderLease:
    """Acquire, renew and release the scheduler's leader lease.

    Args:
        store: The lease bucket.
        holder: This replica's name (unique among replicas).
        lease: Seconds a lease lasts without renewal.
        renew: Seconds between renewals (and between attempts to take a lapsed lease).
        monotonic: Monotonic seconds (tests pass a fake).
        on_change: Called with the new leadership whenever it changes.
    """

    def __init__(
        self,
        store: LeaseStore,
        holder: str | None = None,
        *,
        lease: float = LEASE_SECONDS,
        renew: float = RENEW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if not 0 < renew < lease:
            raise ValueError("the renew interval must be positive and shorter than the lease")
        self._store = store
        self.holder = holder or instance_name()
        self.lease = lease
        self.renew = renew
        self._monotonic = monotonic
        self.on_change = on_change
        self._revision: int | None = None
        """Revision of our own last write while we hold the lease."""
        self._valid_until = 0.0
        self._seen: _Seen | None = None
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """Whether this replica may fire ticks now (holds the lease and it has not lapsed)."""
        if self._leader and self._monotonic() >= self._valid_until:
            self._set_leader(False)
            log.warning("leader lease lapsed without renewal; stepping down", extra={"holder": self.holder})
        return self._leader

    async def step(self) -> bool:
        """Renew the lease if held, else take it if free or lapsed; return whether we lead now.

        Never raises for an unreachable store: the attempt is simply lost (and a holder steps
        down once its lease lapses).
        """
        started = self._monotonic()
        try:
            if self._revision is not None:
                await self._renew(started)
            else:
                await self._acquire(started)
        except TransientError as exc:
            log.warning("leader lease not reachable", extra={"holder": self.holder, "error": str(exc)})
        return self.is_leader

    async def _renew(self, started: float) -> None:
        assert self._revision is not None
        try:
            self._revision = await self._store.update(LEASE_KEY, self._value(), self._revision)
        except ConflictError:
            log.warning("leader lease taken by another replica", extra={"holder": self.holder})
            self._revision = None
            self._set_leader(False)
            return
        self._granted(started)

    async def _acquire(self, started: float) -> None:
        current = await self._store.get(LEASE_KEY)
        try:
            if current is None:
                self._revision = await self._store.create(LEASE_KEY, self._value())
            elif self._lapsed(current.revision, self._monotonic()):
                self._revision = await self._store.update(LEASE_KEY, self._value(), current.revision)
            else:
                return
        except ConflictError:
            self._seen = None  # someone else was quicker: watch their revision from now on
            return
        self._seen = None
        self._granted(started)
        log.info("became scheduler leader", extra={"holder": self.holder})

    def _lapsed(self, revision: int, now: float) -> bool:
        if self._seen is None or self._seen.revision != revision:
            self._seen = _Seen(revision=revision, since=now)
            return False
        return now - self._seen.since >= self.lease

    def _granted(self, started: float) -> None:
        # Counted from before the write was sent: a follower saw the revision only after it.
        self._valid_until = started + self.lease - self.renew
        self._set_leader(True)

    def _set_leader(self, leader: bool) -> None:
        if leader != self._leader:
            self._leader = leader
            if self.on_change is not None:
                self.on_change(leader)

    def _value(self) -> bytes:
        holder = LeaseHolder(holder=self.holder, pid=os.getpid(), host=socket.gethostname(),
                             renewed_at=utcnow(), lease_seconds=self.lease)
        return msgspec.json.encode(holder)

    async def release(self) -> None:
        """Give the lease up (clean stop): delete the key if it is still ours."""
        revision, self._revision = self._revision, None
        self._set_leader(False)
        if revision is None:
            return
        with contextlib.suppress(ConflictError, TransientError):
            await self._store.delete(LEASE_KEY, revision)
            log.info("released the scheduler leader lease", extra={"holder": self.holder})

    async def run(self, stop: asyncio.Event) -> None:
        """Renew or try to take the lease every ``renew`` seconds until ``stop``, then release it."""
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew)
        finally:
            await asyncio.shield(self.release())
