"""Compare-and-set records in a JetStream key-value bucket (a narrow interface for leases).

Each write names the revision it expects, so of two writers racing for one key exactly one wins;
the loser gets :class:`~autoloader_core.errors.ConflictError`. Used by the scheduler's leader
lease; the bucket keeps one revision per key.
"""

from __future__ import annotations

from dataclasses import dataclass

import nats.errors
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from autoloader_bus.connection import Bus
from autoloader_core.errors import ConflictError, TransientError


@dataclass(frozen=True)
class Record:
    """A key's current value and the revision that wrote it."""

    value: bytes
    revision: int


class CasBucket:
    """One JetStream KV bucket, opened (and created if missing) on first use.

    Args:
        bus: The connected bus.
        bucket: The bucket's name.
    """

    def __init__(self, bus: Bus, bucket: str) -> None:
        self._bus = bus
        self._name = bucket
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self._bus.js.key_value(self._name)
            except BucketNotFoundError:
                self._kv = await self._bus.js.create_key_value(bucket=self._name, history=1)
        return self._kv

    async def get(self, key: str) -> Record | None:
        """Return the key's record, ``None`` when it does not exist (or was deleted).

        Raises:
            TransientError: NATS did not answer.
        """
        try:
            entry = await (await self._bucket()).get(key)
        except KeyNotFoundError:
            return None
        except nats.errors.Error as exc:
            raise TransientError(f"reading {self._name}/{key} failed: {exc!r}") from exc
        if entry.value is None or entry.revision is None:
            return None
        return Record(value=entry.value, revision=entry.revision)

    async def create(self, key: str, value: bytes) -> int:
        """Write ``key`` only if it does not exist; return the new revision.

        Raises:
            ConflictError: The key exists.
            TransientError: NATS did not answer.
        """
        try:
            return int(await (await self._bucket()).create(key, value))
        except KeyWrongLastSequenceError as exc:
            raise ConflictError(f"{self._name}/{key} exists") from exc
        except nats.errors.Error as exc:
            raise TransientError(f"creating {self._name}/{key} failed: {exc!r}") from exc

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Write ``key`` only if its current revision is ``revision``; return the new revision.

        Raises:
            ConflictError: Someone else wrote (or deleted) the key since ``revision``.
            TransientError: NATS did not answer.
        """
        try:
            return int(await (await self._bucket()).update(key, value, last=revision))
        except KeyWrongLastSequenceError as exc:
            raise ConflictError(f"{self._name}/{key} changed since revision {revision}") from exc
        except nats.errors.Error as exc:
            raise TransientError(f"updating {self._name}/{key} failed: {exc!r}") from exc

    async def delete(self, key: str, revision: int) -> None:
        """Delete ``key`` only if its current revision is ``revision``.

        Raises:
            ConflictError: Someone else wrote the key since ``revision``.
            TransientError: NATS did not answer.
        """
        try:
            await (await self._bucket()).delete(key, last=revision)
        except KeyWrongLastSequenceError as exc:
            raise ConflictError(f"{self._name}/{key} changed since revision {revision}") from exc
        except nats.errors.Error as exc:
            raise TransientError(f"deleting {self._name}/{key} failed: {exc!r}") from exc
