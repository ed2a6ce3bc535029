"""Event store on JetStream: append with optimistic concurrency, read an aggregate's history.

Appends carry ``Nats-Msg-Id`` = event id (a retried append is deduplicated by the server) and,
when the caller passes ``expected_version``, ``Nats-Expected-Last-Subject-Sequence`` over the
aggregate's wildcard subject (a concurrent writer makes the append fail). The server checks the
sequence before dedupe, so a retry of an append that already succeeded fails with 10071 too: we
then look for our event id in the aggregate's history to tell a retry from a real conflict.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import Header
from nats.js.errors import APIError
from nats.js.errors import NotFoundError as JsNotFound

from autoloader_bus.connection import Bus
from autoloader_contracts.codec import UnknownEventType, decode, encode
from autoloader_contracts.events import Event
from autoloader_contracts.subjects import aggregate_filter, event_subject
from autoloader_core.errors import ConflictError, TerminalError, TransientError
from autoloader_core.tracing import TraceContext, inject

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE = 10071
APPEND_TIMEOUT_SECONDS = 5.0
PIPELINED_APPENDS = 256
"""Appends :meth:`EventStore.append_many` keeps in flight (published, ack not yet received)."""
CONFLICT_CHECKS = 32
ACK_INBOX_PENDING = 1_000_000
"""Acks the inbox may buffer (they are small; far more than ever in flight)."""
"""Refused appends whose history :meth:`EventStore.append_many` reads at once (retry or conflict?)."""


AppendOutcome = int | ConflictError | TransientError | TerminalError
"""What became of one event of :meth:`EventStore.append_many`: its sequence, or why not."""


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
        self._acks: _AckInbox | None = None

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
        headers = self._headers(event, expected_version)
        try:
            ack = await self._bus.js.publish(
                event_subject(event), encode(event), stream=self._bus.stream, headers=headers,
                timeout=APPEND_TIMEOUT_SECONDS,
            )
        except APIError as exc:
            if exc.err_code != WRONG_LAST_SEQUENCE:
                raise TransientError(f"event append failed: {exc.description}") from exc
            return await self._retried_or_conflict(event, exc)
        except (NatsTimeout, NatsError) as exc:
            raise TransientError(f"event append timed out: {exc}") from exc
        return int(ack.seq)

    async def append_many(
        self,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        traces: Sequence[TraceContext | None] | None = None,
        in_flight: int = PIPELINED_APPENDS,
        on_outcome: Callable[[int, AppendOutcome], None] | None = None,
    ) -> list[AppendOutcome]:
        """Append independent events (one per aggregate) pipelined, and return each one's outcome.

        Up to ``in_flight`` events are published before their acks come back, instead of one
        round trip per event: 10,000 scheduled ticks due at once are appended in about the time
        the server takes to store them. Each event is judged alone, exactly as :meth:`append`
        would: its sequence, or the error :meth:`append` would have raised. Refused appends are
        told apart (a retry of ours vs. a real conflict) :data:`CONFLICT_CHECKS` at a time.

        Args:
            events: Events of distinct aggregates (the order between them is not kept).
            expected_version: Applied to every event (typically 0: each aggregate must be new).
            traces: One trace context per event to append it under (default: the current one).
            in_flight: Publishes awaiting their ack at most.
            on_outcome: Called once per event (its index and outcome) as soon as the outcome is
                known, most of them while later events are still being published.

        Returns:
            Per event, in order: its stream sequence, a :class:`ConflictError`, a
            :class:`TransientError` or, for an event that cannot be encoded, a
            :class:`TerminalError` (not raised: the others may have been appended).
        """
        not_sent = TransientError("NATS is not connected; the event was not appended")
        results: list[AppendOutcome] = [not_sent] * len(events)
        reported = [False] * len(events)

        def acked(index: int, future: asyncio.Future[Any]) -> None:
            outcome = None if future.cancelled() else _acked(future)
            if outcome is None:
                return  # timed out or refused: settled below
            results[index] = outcome
            if on_outcome is not None:
                reported[index] = True
                on_outcome(index, outcome)

        pending: dict[asyncio.Future[Any], int] = {}
        if events and self._bus.nc.is_connected:
            pending = await self._publish_pipelined(
                events, expected_version, traces, in_flight=in_flight, results=results, acked=acked
            )
        refused: list[int] = []
        if pending:
            done, late = await asyncio.wait(pending, timeout=APPEND_TIMEOUT_SECONDS)
            for future in late:
                future.cancel()
                results[pending[future]] = TransientError("event append timed out: no ack")
            refused = sorted(pending[future] for future in done if _acked(future) is None)
        for start in range(0, len(refused), CONFLICT_CHECKS):
            chunk = refused[start:start + CONFLICT_CHECKS]
            outcomes = await asyncio.gather(*(self._outcome_of_refused(events[i]) for i in chunk))
            for index, outcome in zip(chunk, outcomes, strict=True):
                results[index] = outcome
        if on_outcome is not None:
            for index, outcome in enumerate(results):
                if not reported[index]:
                    on_outcome(index, outcome)
        return results

    async def _publish_pipelined(
        self,
        events: Sequence[Event],
        expected_version: int | None,
        traces: Sequence[TraceContext | None] | None,
        *,
        in_flight: int,
        results: list[AppendOutcome],
        acked: Callable[[int, asyncio.Future[Any]], None],
    ) -> dict[asyncio.Future[Any], int]:
        """Publish ``events`` with at most ``in_flight`` acks outstanding; return ack future -> index.

        Events that could not be published get their outcome in ``results`` right away; events
        after a stall (no ack for :data:`APPEND_TIMEOUT_SECONDS`) or a disconnect are not published.
        """
        if self._acks is None or self._acks.nc is not self._bus.nc:
            self._acks = await _AckInbox.open(self._bus)
        acks = self._acks
        window = asyncio.Semaphore(max(1, in_flight))
        pending: dict[asyncio.Future[Any], int] = {}
        for index, event in enumerate(events):
            if window.locked():
                # Only wait (and so yield) when the window is full: publishes made without yielding
                # pile up in nats-py's buffer and its flusher writes them in one go, not one each.
                try:
                    await asyncio.wait_for(window.acquire(), timeout=APPEND_TIMEOUT_SECONDS)
                except TimeoutError:
                    break  # acks stopped coming: the rest are reported as not appended
            else:
                await window.acquire()  # free: returns without yielding
            if not self._bus.nc.is_connected:
                window.release()
                break  # see append(): a publish buffered while reconnecting would be sent later
            try:
                subject, payload = event_subject(event), encode(event)
                headers = self._headers(event, expected_version, traces[index] if traces is not None else None)
                headers[Header.EXPECTED_STREAM] = self._bus.stream
            except Exception as exc:  # one bad event must not fail the others
                window.release()
                results[index] = TerminalError(f"event cannot be appended: {exc!r}")
                continue
            reply, future = acks.expect()
            try:
                await self._bus.nc.publish(subject, payload, reply=reply, headers=headers)
            except (NatsTimeout, NatsError) as exc:
                acks.forget(reply)
                window.release()
                results[index] = TransientError(f"event append failed: {exc!r}")
                continue
            future.add_done_callback(functools.partial(_release_then, window, acked, index))
            pending[future] = index
        return pending

    def _headers(self, event: Event, expected_version: int | None,
                 trace: TraceContext | None = None) -> dict[str, str]:
        # The trace context travels with the event: whoever handles it continues the same trace.
        headers = inject({"Nats-Msg-Id": event.event_id}, trace)
        if expected_version is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
            headers["Nats-Expected-Last-Subject-Sequence-Subject"] = aggregate_filter(
                event.tenant_id, event.aggregate, event.aggregate_id
            )
        return headers

    async def _retried_or_conflict(self, event: Event, exc: APIError) -> int:
        earlier = await self._find(event)
        if earlier is not None:
            return earlier
        raise ConflictError(
            f"{event.aggregate} {event.aggregate_id} changed concurrently; reload it and retry"
        ) from exc

    async def _outcome_of_refused(self, event: Event) -> AppendOutcome:
        try:
            earlier = await self._find(event)
        except TransientError as exc:
            return exc
        if earlier is not None:
            return earlier
        return ConflictError(f"{event.aggregate} {event.aggregate_id} changed concurrently; reload it and retry")

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


def _release_then(
    window: asyncio.Semaphore, acked: Callable[[int, asyncio.Future[Any]], None], index: int,
    future: asyncio.Future[Any],
) -> None:
    window.release()
    acked(index, future)


def _acked(future: asyncio.Future[Any]) -> AppendOutcome | None:
    """The outcome of one pipelined publish; ``None`` when the server refused it as a conflict."""
    if future.cancelled():
        return TransientError("event append cancelled")
    answer = future.result()
    if isinstance(answer, int):
        return answer
    code, err_code, description = answer
    if err_code == WRONG_LAST_SEQUENCE:
        return None  # a retry of ours or a real conflict: the history tells
    return TransientError(f"event append failed: {description} (code {code}, err_code {err_code})")


class _AckInbox:
    """One wildcard inbox receiving the acks of pipelined publishes, each matched to its future.

    nats-py's ``publish_async`` would do this, but its reply handler raises on a JetStream error
    (``APIError.from_error`` raises instead of returning) and leaves the future pending forever, so
    a refused append would look like a lost ack. A future resolves to the stream sequence, or to
    ``(code, err_code, description)`` of a JetStream error.
    """

    def __init__(self, nc: Any, prefix: str) -> None:
        self.nc = nc
        self._prefix = prefix
        self._futures: dict[str, asyncio.Future[Any]] = {}
        self._next = 0

    @classmethod
    async def open(cls, bus: Bus) -> _AckInbox:
        inbox = cls(bus.nc, bus.nc.new_inbox() + ".")
        await bus.nc.subscribe(inbox._prefix + "*", cb=inbox._on_reply, pending_msgs_limit=ACK_INBOX_PENDING)
        return inbox

    def expect(self) -> tuple[str, asyncio.Future[Any]]:
        self._next += 1
        token = str(self._next)
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self._futures.pop(token, None))
        self._futures[token] = future
        return self._prefix + token, future

    def forget(self, reply: str) -> None:
        future = self._futures.pop(reply[len(self._prefix):], None)
        if future is not None:
            future.cancel()

    async def _on_reply(self, msg: Any) -> None:
        future = self._futures.get(msg.subject[len(self._prefix):])
        if future is None or future.done():
            return  # given up on already (timed out)
        if msg.headers and msg.headers.get(Header.STATUS) == "503":
            future.set_result((503, 0, "no JetStream stream answered"))
            return
        try:
            answer = _decode_ack(msg.data)
        except msgspec.DecodeError:
            future.set_result((0, 0, f"unreadable ack {msg.data[:100]!r}"))
            return
        if answer.error is not None:
            future.set_result((answer.error.code, answer.error.err_code, answer.error.description))
        else:
            future.set_result(answer.seq)


class _AckError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Ack(msgspec.Struct):
    """A JetStream publish ack: ``{"stream": …, "seq": …}`` or ``{"error": {…}}``."""

    seq: int = 0
    error: _AckError | None = None


_decode_ack = msgspec.json.Decoder(_Ack).decode


TRACE_HEADERS = ("traceparent", "tracestate")


def trace_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """The W3C trace-context entries of a message's ``headers``."""
    if not headers or "traceparent" not in headers:
        return {}
    return {key: headers[key] for key in TRACE_HEADERS if key in headers}
