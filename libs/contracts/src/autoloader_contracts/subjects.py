"""Every NATS subject used by Autoloader is built here, never as a literal elsewhere.

Domain events: ``autoloader.<tenant>.<aggregate>.<aggregate_id>.<event>``. The tenant token lets
NATS permissions scope an integration to its tenant's events.
"""

from __future__ import annotations

import re

from autoloader_contracts.events import Event

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")

PREFIX = "autoloader"
ALL_EVENTS = f"{PREFIX}.>"
HEARTBEAT_BUCKET = "autoloader_services"
SCHEDULER_LEASE_BUCKET = "autoloader_scheduler_lease"
"""KV bucket of the scheduler leader lease (key ``leader``): only its holder fires ticks."""
RPC_PREFIX = "rpc_autoloader"
LOADER_CONSUMER = "loader"
"""The loader's durable consumer (discovery's run watchdog reads how far it got)."""
DISCOVERY_CONSUMER = "discovery"
"""Discovery's durable consumer."""


def _token(value: str) -> str:
    """Refuse values that would change a subject's shape (``.``, wildcards, whitespace)."""
    if not value or not _TOKEN.match(value):
        raise ValueError(f"{value!r} cannot be a subject token")
    return value


def event_subject(event: Event) -> str:
    """Return the subject ``event`` is stored under.

    Raises:
        ValueError: The tenant or aggregate id is not a safe subject token.
    """
    return f"{PREFIX}.{_token(event.tenant_id)}.{event.aggregate}.{_token(event.aggregate_id)}.{event.event_name()}"


def aggregate_filter(tenant_id: str, aggregate: str, aggregate_id: str) -> str:
    """Return the filter matching every event of one aggregate instance.

    Raises:
        ValueError: The tenant or aggregate id is not a safe subject token.
    """
    return f"{PREFIX}.{_token(tenant_id)}.{aggregate}.{_token(aggregate_id)}.*"


def events_of(event_type: type[Event], tenant_id: str = "*") -> str:
    """Return the filter matching one event type across aggregates (and tenants by default)."""
    return f"{PREFIX}.{tenant_id}.{event_type.aggregate}.*.{event_type.event_name()}"


def aggregate_events(aggregate: str, tenant_id: str = "*") -> str:
    """Return the filter matching every event of one aggregate kind."""
    return f"{PREFIX}.{tenant_id}.{aggregate}.*.*"


def rpc_subject(service: str, operation: str) -> str:
    """Return the request/reply subject of ``service``'s ``operation`` (not stored in the stream)."""
    return f"{RPC_PREFIX}.{service}.{operation}"


def subject_template(event_type: type[Event]) -> str:
    """Return the documented subject pattern of ``event_type`` with named placeholders.

    Example: ``autoloader.{tenant_id}.run.{aggregate_id}.completed`` (used by the AsyncAPI document).
    """
    return f"{PREFIX}.{{tenant_id}}.{event_type.aggregate}.{{aggregate_id}}.{event_type.event_name()}"
