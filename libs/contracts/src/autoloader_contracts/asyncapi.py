"""The AsyncAPI 3.0 document of the public event stream, generated from the event catalogue.

One channel per event type (its subject pattern with ``tenant_id`` and ``aggregate_id`` as
parameters), one ``receive`` operation per channel (integrations subscribe), and payload schemas
from msgspec. ``just asyncapi`` writes it to ``docs/asyncapi.json``; a test keeps that file equal
to what this module generates.

Run: ``python -m autoloader_contracts.asyncapi [OUTPUT]`` (default: print to stdout).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from autoloader_contracts.events import EVENT_TYPES, Event
from autoloader_contracts.subjects import subject_template

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
SCHEMA_REF = "#/components/schemas/{name}"

_PARAMETERS = {
    "tenant_id": {"description": "Owning tenant; NATS permissions can scope a subscriber to it."},
    "aggregate_id": {"description": "Id of the ingestion, run or batch the event belongs to."},
}


def _summary(event_type: type[Event]) -> str:
    doc = inspect.getdoc(event_type) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _channel(event_type: type[Event]) -> dict[str, Any]:
    name = event_type.__name__
    return {
        "address": subject_template(event_type),
        "title": event_type.type_tag(),
        "description": f"Every `{event_type.type_tag()}` event, one subject per {event_type.aggregate}.",
        "parameters": _PARAMETERS,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
    }


def _operation(event_type: type[Event]) -> dict[str, Any]:
    name = event_type.__name__
    return {
        "action": "receive",
        "summary": f"Subscribe to {event_type.type_tag()}",
        "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
    }


def _message(event_type: type[Event]) -> dict[str, Any]:
    name = event_type.__name__
    return {
        "name": event_type.type_tag(),
        "title": name,
        "summary": _summary(event_type),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {"Nats-Msg-Id": {"type": "string", "description": "equals the event_id"}},
        },
        "payload": {"$ref": SCHEMA_REF.format(name=name)},
    }


def build_document() -> dict[str, Any]:
    """Build the AsyncAPI 3.0 document (a JSON-ready dict) from :data:`EVENT_TYPES`."""
    _, schemas = msgspec.json.schema_components(EVENT_TYPES, ref_template=SCHEMA_REF)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Autoloader events",
            "version": DOCUMENT_VERSION,
            "description": (
                "The public event log of Autoloader on NATS JetStream (stream AUTOLOADER). Events are "
                "JSON with a versioned `type` tag; additive changes keep the version, breaking changes "
                "get a new one. Subscribe with a durable consumer filtered on a channel address "
                "(placeholders become `*`)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "embedded stack"},
        },
        "channels": {t.__name__: _channel(t) for t in EVENT_TYPES},
        "operations": {f"on{t.__name__}": _operation(t) for t in EVENT_TYPES},
        "components": {
            "messages": {t.__name__: _message(t) for t in EVENT_TYPES},
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render() -> str:
    """The document as stable, indented JSON text (what ``docs/asyncapi.json`` holds)."""
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document to the path in ``argv`` (or print it)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(render())
        return 0
    Path(args[0]).write_text(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
