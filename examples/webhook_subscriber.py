"""Post one tenant's failed runs and raised alerts to a webhook, from Autoloader's NATS event stream.

A complete integration in one file, written against the public contract only (subjects and JSON
events, docs/events.md and docs/asyncapi.json): it does not import Autoloader. It keeps a durable
JetStream consumer, so a restart resumes where it stopped, and it acknowledges an event only after
the webhook accepted it (a webhook that is down gets the event again later).

    python -m examples.webhook_subscriber --nats nats://int_acme:secret@nats:4222 \\
        --tenant tnt_acme --webhook https://hooks.example.com/autoloader [--since 2026-12-01T00:00:00Z]

With NATS authorization (docs/integrations.md), the user may create only the consumer named
``webhook_<tenant>`` and only on its tenant's subjects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import httpx
import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger("webhook_subscriber")

STREAM = "AUTOLOADER"
NOTIFY_RUN_STATUSES = {"failed", "partial"}
REDELIVERY_DELAY_SECONDS = 30.0


def consumer_name(tenant: str) -> str:
    """The durable consumer of ``tenant``'s webhook (the name NATS permissions allow)."""
    return f"webhook_{tenant}"


def notification(event: dict[str, Any]) -> dict[str, Any] | None:
    """The webhook body for an event worth telling someone about, else None.

    Events are matched by their ``type`` tag's name and major version; unknown types and newer
    major versions are skipped (an integration must tolerate events it does not know).
    """
    kind = event.get("type", "")
    if kind == "run.completed.v1" and event.get("status") in NOTIFY_RUN_STATUSES:
        return {
            "kind": "run_" + str(event["status"]),
            "tenant_id": event["tenant_id"],
            "ingestion_id": event["ingestion_id"],
            "run_id": event["aggregate_id"],
            "errors": [e.get("message", "") for e in event.get("errors", [])][:5],
            "at": event["occurred_at"],
        }
    if kind == "alert.raised.v1":
        return {
            "kind": "alert",
            "alert": event["kind"],
            "tenant_id": event["tenant_id"],
            "ingestion_id": event["ingestion_id"],
            "message": event["message"],
            "at": event["occurred_at"],
        }
    return None


async def subscribe(
    nats_url: str,
    *,
    tenant: str,
    webhook: str,
    stop: asyncio.Event,
    since: datetime | None = None,
    stream: str = STREAM,
    retry_delay: float = REDELIVERY_DELAY_SECONDS,
) -> None:
    """Forward ``tenant``'s failed runs and alerts to ``webhook`` until ``stop`` is set.

    Args:
        nats_url: The NATS URL (with the integration user's credentials).
        tenant: The tenant whose events to follow.
        webhook: The URL to POST each notification to (JSON).
        stop: Set it to stop.
        since: On the consumer's first start, replay events from this time (default: from now).
        stream: The event stream's name.
        retry_delay: Seconds before an event the webhook refused is delivered again.
    """
    nc = await nats.connect(nats_url, name=consumer_name(tenant))
    js = nc.jetstream()
    name = consumer_name(tenant)
    # One filter subject, so the server can check it against the user's permissions (it is part
    # of the consumer-create API subject).
    config = ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=f"autoloader.{tenant}.>",
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.NEW,
        opt_start_time=since.isoformat() if since else None,
        max_deliver=-1,
    )
    await js.add_consumer(stream, config)
    subscription = await js.pull_subscribe_bind(durable=name, stream=stream)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(10, timeout=1.0)
                except NatsTimeout:
                    continue
                for message in messages:
                    await _forward(client, webhook, message, retry_delay)
    finally:
        await nc.drain()


async def _forward(client: httpx.AsyncClient, webhook: str, message: Any, retry_delay: float) -> None:
    body = notification(json.loads(message.data))
    if body is None:
        await message.ack()
        return
    try:
        response = await client.post(webhook, json=body)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("webhook refused the notification; it will be sent again: %s", exc)
        await message.nak(delay=retry_delay)
        return
    await message.ack()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", required=True, help="NATS URL with the integration user's credentials")
    parser.add_argument("--tenant", required=True, help="tenant id (tnt_...)")
    parser.add_argument("--webhook", required=True, help="URL to POST notifications to")
    parser.add_argument("--since", type=datetime.fromisoformat, help="replay events from this ISO time")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    stop = asyncio.Event()
    try:
        asyncio.run(subscribe(args.nats, tenant=args.tenant, webhook=args.webhook, stop=stop, since=args.since))
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
