"""One run is one trace: the API request, and every service its events reach, export to one trace id.

The real stack (five service processes on real NATS and PostgreSQL) exports OTLP/HTTP to a
collector this test serves; a manual run is started through the API, and the spans of that
request's trace must come from the api, discovery, loader and projector, and cover the listing,
the file reads, the data-file writes, the Iceberg commit and Postgres statements.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from autoloader_cli.stack import Stack
from autoloader_core.tracing import SERVICE_ATTRIBUTE
from tests.conftest import unique
from tests.e2e.conftest import Api, start_stack, write_csv
from tests.tracing_support import OtlpCollector

pytestmark = pytest.mark.e2e

EXPORT_DEADLINE_SECONDS = 30.0
TRACED_SERVICES = {"api", "discovery", "loader", "projector"}


@dataclass(frozen=True)
class ExportedSpan:
    """What the test needs of one exported span."""

    trace_id: str
    name: str
    service: str
    resource_service: str


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


def _exported(collector: OtlpCollector) -> list[ExportedSpan]:
    return [
        ExportedSpan(
            trace_id=span.trace_id.hex(),
            name=span.name,
            service=next((a.value.string_value for a in span.attributes if a.key == SERVICE_ATTRIBUTE), ""),
            resource_service=next(
                (a.value.string_value for a in resource.resource.attributes if a.key == "service.name"), ""
            ),
        )
        for _, request in collector.requests()
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str, collector: OtlpCollector
) -> Iterator[Stack]:
    """A stack whose every service exports its spans to the test's collector (flushed every 200 ms)."""
    running = start_stack(
        tmp_path_factory.mktemp("traced"),
        postgres_admin_url,
        env={"AUTOLOADER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"},
    )
    try:
        yield running
    finally:
        running.stop()


def _trace_of_request(spans: list[ExportedSpan], name_suffix: str) -> str:
    found = [s for s in spans if s.service == "api" and s.name.startswith("POST") and s.name.endswith(name_suffix)]
    assert found, f"no api span ending in {name_suffix!r} was exported"
    return found[-1].trace_id


def test_one_manual_run_is_one_trace_across_the_services(stack: Stack, api: Api, collector: OtlpCollector) -> None:
    folder = stack.landing_dir / unique("traced")
    for index in range(3):
        write_csv(folder / f"part-{index}.csv", first_id=index * 100, rows=100)
    ingestion_id: str = api.create(api.ingestion_body(folder, table=unique("traced")))["id"]
    run = api.wait_run(ingestion_id, api.run(ingestion_id))
    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == 300

    # Discovery's "handle BatchLoaded" span ends after it appended RunCompleted, so the projector's span
    # can be exported first: wait for both.
    wanted = {
        "list files",
        "read files",
        "write data files",
        "iceberg commit",
        "project RunCompleted",
        "handle RunRequested",
        "handle BatchPlanned",
        "handle BatchLoaded",
    }
    deadline = time.monotonic() + EXPORT_DEADLINE_SECONDS
    while True:
        exported = _exported(collector)
        trace_id = _trace_of_request(exported, "/run")
        spans = [s for s in exported if s.trace_id == trace_id]
        services = {s.service for s in spans}
        names = {s.name for s in spans}
        if (services >= TRACED_SERVICES and wanted <= names) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert services >= TRACED_SERVICES, f"services in the run's trace: {sorted(services)}"
    assert wanted <= names, f"missing spans: {sorted(wanted - names)}; got {sorted(names)}"
    assert {"handle RunRequested", "handle BatchPlanned", "handle BatchLoaded"} <= names, sorted(names)
    assert any(name.startswith("postgres ") for name in names), sorted(names)
    # Each process names itself in its resource; the attribute and the resource agree.
    assert {s.resource_service for s in spans} == {f"autoloader-{s.service}" for s in spans}
