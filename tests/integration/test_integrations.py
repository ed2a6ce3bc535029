"""Integrations on the public event stream: the example webhook subscriber, and NATS users scoped to one tenant."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import pytest
from examples.nats_integration_user import authorization_block
from examples.webhook_subscriber import STREAM, consumer_name, subscribe
from nats.js.api import ConsumerConfig

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_cli.servers import NatsServer
from autoloader_contracts import events as ev
from tests.support import envelope, eventually

pytestmark = pytest.mark.integration

TENANT_A = "tnt_acme"
TENANT_B = "tnt_other"
SERVICE_PASSWORD = "service-secret"
USERS = {TENANT_A: ("int_acme", "acme-secret"), TENANT_B: ("int_other", "other-secret")}


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server with the services' user and one integration user per tenant."""
    block = authorization_block(service_user="autoloader", service_password=SERVICE_PASSWORD, integrations=USERS)
    server = NatsServer(tmp_path / "nats", extra_config=block).start()
    try:
        yield server
    finally:
        server.stop()


def _url(server: NatsServer, user: str, password: str) -> str:
    return f"nats://{user}:{password}@127.0.0.1:{server.port}"


@pytest.fixture
async def service_store(secured_nats: NatsServer) -> AsyncIterator[EventStore]:
    bus = await Bus.connect(_url(secured_nats, "autoloader", SERVICE_PASSWORD), stream=STREAM, name="service")
    await bus.ensure_stream()
    try:
        yield EventStore(bus)
    finally:
        await bus.close()


class Webhook:
    """A local HTTP server that records the JSON bodies POSTed to it (and can refuse the first ones)."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.refusals_left = refuse_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if hook.refusals_left > 0:
                    hook.refusals_left -= 1
                    self.send_response(503)
                else:
                    hook.received.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completed(tenant: str, status: str, message: str = "") -> ev.RunCompleted:
    errors = [ev.RunError(error_type="load_error", message=message)] if message else []
    return ev.RunCompleted(
        **envelope(tenant, f"run_{status}_{tenant}"), ingestion_id="ing_orders", status=status,  # type: ignore[arg-type]
        metrics=ev.RunMetrics(), started_at=datetime.now(UTC), errors=errors,
    )


def _alert(tenant: str) -> ev.AlertRaised:
    return ev.AlertRaised(
        **envelope(tenant, f"alr_{tenant}"), ingestion_id="ing_orders", kind="no_new_files",
        message="no new files for 26 hours",
    )


async def test_the_example_subscriber_posts_only_its_tenants_failures_and_alerts(
    secured_nats: NatsServer, service_store: EventStore
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    for event in (
        _completed(TENANT_A, "success"),
        _completed(TENANT_A, "failed", "file a.csv: expected 3 columns, got 4"),
        _alert(TENANT_A),
        _completed(TENANT_B, "failed", "tenant B's secret failure"),
        _alert(TENANT_B),
    ):
        await service_store.append(event)

    user, password = USERS[TENANT_A]
    stop = asyncio.Event()
    with Webhook(refuse_first=1) as hook:  # the first POST is refused: that event comes again
        task = asyncio.create_task(
            subscribe(_url(secured_nats, user, password), tenant=TENANT_A, webhook=hook.url, stop=stop, since=since,
                      retry_delay=0.5)
        )

        async def notified() -> bool:
            return len(hook.received) >= 2

        try:
            await eventually(notified, timeout=60, what="two notifications")
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)

    kinds = sorted((body["kind"], body["tenant_id"]) for body in hook.received)
    assert kinds == [("alert", TENANT_A), ("run_failed", TENANT_A)]
    failed = next(body for body in hook.received if body["kind"] == "run_failed")
    assert failed["errors"] == ["file a.csv: expected 3 columns, got 4"]
    assert all("tenant B" not in json.dumps(body) for body in hook.received)


async def test_an_integration_user_cannot_read_another_tenants_events(
    secured_nats: NatsServer, service_store: EventStore
) -> None:
    secret_seq = await service_store.append(_completed(TENANT_B, "failed", "tenant B's secret failure"))
    user, password = USERS[TENANT_A]
    nc = await nats.connect(_url(secured_nats, user, password), allow_reconnect=False)
    js = nc.jetstream(timeout=2)
    try:
        # Its own consumer on its own tenant: allowed.
        name = consumer_name(TENANT_A)
        own = ConsumerConfig(name=name, durable_name=name, filter_subject=f"autoloader.{TENANT_A}.>")
        await js.add_consumer(STREAM, own)
        # Its consumer name on the other tenant's subjects, another name, a message by sequence,
        # a plain subscription: all refused.
        with pytest.raises(nats.errors.Error):
            await js.add_consumer(
                STREAM, ConsumerConfig(name=name, durable_name=name, filter_subject=f"autoloader.{TENANT_B}.>")
            )
        other = consumer_name(TENANT_B)
        with pytest.raises(nats.errors.Error):
            await js.add_consumer(
                STREAM, ConsumerConfig(name=other, durable_name=other, filter_subject=f"autoloader.{TENANT_B}.>")
            )
        with pytest.raises(nats.errors.Error):
            await js.get_msg(STREAM, seq=secret_seq)
        received: list[bytes] = []

        async def record(msg: Any) -> None:
            received.append(msg.data)

        subscription = await nc.subscribe(f"autoloader.{TENANT_B}.>", cb=record)
        await service_store.append(_completed(TENANT_B, "partial", "another secret"))
        await asyncio.sleep(0.5)
        assert received == []
        await subscription.unsubscribe()
    finally:
        await nc.close()

