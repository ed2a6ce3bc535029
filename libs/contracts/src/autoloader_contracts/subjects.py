"""Every NATS subject used by Autoloader is built here, never as a literal elsewhere.

Domain events: ``autoloader.<tenant>.<aggregate>.<aggregate_id>.<event>``. The tenant token lets
NATS permissions scope an integration to its tenant's events.
"""

from __future__ import annotations

from autoloader_contracts.events import Event

PREFIX = "autoloader"
ALL_EVENTS = f"{PREFIX}.>"
HEARTBEAT_BUCKET = "autoloader_services"
RPC_PREFIX = "rpc_autoloader"


def event_subject(event: Event) -> str:
    """Return the subject ``event`` is stored under."""
    return f"{PREFIX}.{event.tenant_id}.{event.aggregate}.{event.aggregate_id}.{event.event_name()}"


def aggregate_filter(tenant_id: str, aggregate: str, aggregate_id: str) -> str:
    """Return the filter matching every event of one aggregate instance."""
    return f"{PREFIX}.{tenant_id}.{aggregate}.{aggregate_id}.*"


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
