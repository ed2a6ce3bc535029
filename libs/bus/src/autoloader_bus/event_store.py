"""Event store on JetStream: append with optimistic concurrency, read an aggregate's history.

Appends carry ``Nats-Msg-Id`` = event id (a retried append is deduplicated by the server) and,
when the caller passes ``expected_version``, ``Nats-Expected-Last-Subject-Sequence`` over the
aggregate's wildcard subject (a concurrent writer makes the append fail). The server checks the
sequence before dedupe, so a retry of an append that already succeeded fails with 10071 too: we
then look for our event id in the aggregate's history to tell a retry from a real conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.connection import Bus
from autoloader_contracts.codec import UnknownEventType, decode, encode
from autoloader_contracts.events import Event
from autoloader_contracts.subjects import aggregate_filter, event_subject
from autoloader_core.errors import ConflictError, TransientError
from autoloader_core.tracing import inject

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE = 10071


class StoredEvent(msgspec.Struct, frozen=True):
    """An event as read back from the log, with its stream sequence."""

    seq: int
    subject: str
    event: Event
    trace: dict[str, str] = {}
    """The W3C trace context the event was appended under (``traceparent``...; empty when none)."""


class EventStore:
    """Append and read domain events of one stream."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def append(self, event: Event, *, expected_version: int | None = None) -> int:
        """Append ``event`` and return its stream sequence.

        Args:
            event: The event; its ``event_id`` is the dedupe key.
            expected_version: Sequence of the aggregate's last event as the caller saw it
                (0 = the aggregate must not exist yet); ``None`` appends unconditionally.

        Raises:
            ConflictError: Another writer appended to the aggregate since ``expected_version``.
            TransientError: NATS did not answer.
        """
        if not self._bus.nc.is_connected:
            # While reconnecting, nats-py would buffer the publish and send it after we gave up
            # waiting: the caller would be told "failed" about an append that happens later.
            raise TransientError("NATS is not connected; the event was not appended")
        # The trace context travels with the event: whoever handles it continues the same trace.
        headers = inject({"Nats-Msg-Id": event.event_id})
        filter_subject = aggregate_filter(event.tenant_id, event.aggregate, event.aggregate_id)
        if expected_version is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
            headers["Nats-Expected-Last-Subject-Sequence-Subject"] = filter_subject
        try:
            ack = await self._bus.js.publish(
                event_subject(event), encode(event), stream=self._bus.stream, headers=headers, timeout=5
            )
        except APIError as exc:
            if exc.err_code != WRONG_LAST_SEQUENCE:
                raise TransientError(f"event append failed: {exc.description}") from exc
            earlier = await self._find(event)
            if earlier is not None:
                return earlier
            raise ConflictError(
                f"{event.aggregate} {event.aggregate_id} changed concurrently; reload it and retry"
            ) from exc
        except (NatsTimeout, NatsError) as exc:
            raise TransientError(f"event append timed out: {exc}") from exc
        return int(ack.seq)

    async def append_all(self, events: Sequence[Event], *, expected_version: int | None = None) -> int:
        """Append events of one aggregate in order, chaining the expected version.

        Returns:
            The sequence of the last appended event.
        """
        version = expected_version
        seq = 0
        for event in events:
            seq = await self.append(event, expected_version=version)
            version = seq if version is not None else None
        return seq

    async def read(self, tenant_id: str, aggregate: str, aggregate_id: str) -> list[StoredEvent]:
        """Return the aggregate's events in order (empty when it does not exist).

        Raises:
            TransientError: NATS did not answer.
        """
        return await self.read_subject(aggregate_filter(tenant_id, aggregate, aggregate_id))

    async def read_subject(self, subject_filter: str, *, after: int = 0) -> list[StoredEvent]:
        """Return every event whose subject matches ``subject_filter`` with sequence > ``after``."""
        found: list[StoredEvent] = []
        seq = after + 1
        while True:
            try:
                raw = await self._bus.js.get_msg(self._bus.stream, seq=seq, subject=subject_filter, next=True)
            except JsNotFound:
                return found
            except (NatsTimeout, NatsError) as exc:
                raise TransientError(f"reading {subject_filter} failed: {exc}") from exc
            assert raw.seq is not None
            assert raw.data is not None
            assert raw.subject is not None
            try:
                event, trace = decode(raw.data), trace_headers(raw.headers)
                found.append(StoredEvent(seq=raw.seq, subject=raw.subject, event=event, trace=trace))
            except (UnknownEventType, ValueError) as exc:
                # A poison message must not make its aggregate unreadable; the consumers that
                # receive it dead-letter it.
                log.warning("skipped an undecodable event", extra={"seq": raw.seq, "error": str(exc)})
            seq = raw.seq + 1

    async def last_sequence(self) -> int:
        """Return the stream's last sequence (0 when empty)."""
        info = await self._bus.js.stream_info(self._bus.stream)
        return int(info.state.last_seq)

    async def _find(self, event: Event) -> int | None:
        history = await self.read(event.tenant_id, event.aggregate, event.aggregate_id)
        for stored in history:
            if stored.event.event_id == event.event_id:
                return stored.seq
        return None


TRACE_HEADERS = ("traceparent", "tracestate")


def trace_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """The W3C trace-context entries of a message's ``headers``."""
    if not headers:
        return {}
    return {key: headers[key] for key in TRACE_HEADERS if key in headers}
