"""Tracing: spans name their service, the W3C context survives a header round trip, logs carry the ids."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from autoloader_core.logging import JsonFormatter, log_fields
from autoloader_core.tracing import (
    SERVICE_ATTRIBUTE,
    _otlp_exporter,
    extracted,
    inject,
    set_service,
    span,
    start_span,
)
from tests.tracing_support import OtlpCollector, attributes, parent_id, recorded_spans


def _hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def test_a_span_names_its_service_and_nests_under_the_current_one() -> None:
    set_service("discovery")
    with recorded_spans() as spans, span("outer"), span("inner", attributes={"files": 3, "absent": None}):
        pass
    inner, outer = spans
    assert (inner.name, outer.name) == ("inner", "outer")
    assert attributes(inner) == {SERVICE_ATTRIBUTE: "discovery", "files": 3}
    assert parent_id(inner) == outer.context.span_id
    assert inner.context.trace_id == outer.context.trace_id


def test_an_exception_marks_the_span_failed_and_still_propagates() -> None:
    with recorded_spans() as spans, pytest.raises(ValueError, match="bad file"), span("read files"):
        raise ValueError("bad file")
    (failed,) = spans
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]


def test_items_of_a_batch_get_their_own_trace_and_carry_it_in_their_headers() -> None:
    set_service("scheduler")
    with recorded_spans() as spans:
        started = [start_span("scheduled tick", attributes={"n": n}) for n in range(2)]
        headers = [inject({"Nats-Msg-Id": f"evt_{n}"}, context) for n, (_, context) in enumerate(started)]
        for item, _ in started:
            item.end()
    first, second = spans
    assert first.context.trace_id != second.context.trace_id  # one trace per tick, not one per batch
    for recorded, carried in zip(spans, headers, strict=True):
        assert carried["traceparent"].split("-")[1:3] == [_hex(recorded.context.trace_id),
                                                         format(recorded.context.span_id, "016x")]
        assert attributes(recorded)[SERVICE_ATTRIBUTE] == "scheduler"


def test_the_trace_context_survives_a_header_round_trip() -> None:
    with recorded_spans() as spans:
        with span("append", kind=SpanKind.PRODUCER):
            headers = inject({"Nats-Msg-Id": "evt_1"})
        with span("handle", kind=SpanKind.CONSUMER, parent=extracted(headers)):
            pass
    appended, handled = spans
    assert headers["traceparent"].split("-")[1] == _hex(appended.context.trace_id)
    assert headers["Nats-Msg-Id"] == "evt_1"
    assert handled.context.trace_id == appended.context.trace_id
    assert parent_id(handled) == appended.context.span_id
    assert handled.parent is not None
    assert handled.parent.is_remote


def test_without_a_span_nothing_is_injected_and_an_empty_context_starts_a_new_trace() -> None:
    assert inject({}) == {}
    with recorded_spans() as spans, span("root", parent=extracted({})):
        pass
    assert spans[0].parent is None


def _format(record_message: str) -> dict[str, object]:
    record = logging.LogRecord("autoloader.test", logging.INFO, __file__, 1, record_message, None, None)
    formatted: dict[str, object] = json.loads(JsonFormatter("loader").format(record))
    return formatted


def test_log_lines_carry_the_trace_and_span_ids_and_the_bound_fields() -> None:
    with recorded_spans() as spans:
        with span("handle BatchPlanned"), log_fields(correlation_id="cor_1", event_id="evt_1", absent=None):
            inside = _format("batch loaded")
        after = _format("idle")
    assert inside["trace_id"] == _hex(spans[0].context.trace_id)
    assert inside["span_id"] == format(spans[0].context.span_id, "016x")
    assert (inside["correlation_id"], inside["event_id"]) == ("cor_1", "evt_1")
    assert "absent" not in inside
    assert not {"trace_id", "span_id", "correlation_id"} & set(after)


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


def test_spans_are_exported_over_otlp_http_to_the_configured_endpoint(collector: OtlpCollector) -> None:
    # A provider of its own: the process's global one belongs to the recording fixture.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_otlp_exporter(collector.url + "/")))
    provider.get_tracer("autoloader").start_span("iceberg commit", attributes={SERVICE_ATTRIBUTE: "loader"}).end()
    provider.shutdown()

    (path, request), *_ = collector.requests()
    assert path == "/v1/traces"
    names = [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names == ["iceberg commit"]
