"""Mapping between events and their stored bytes (JSON), with upcasting of old versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from autoloader_contracts.events import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[str, Upcaster] = {}
"""Old type tag -> function returning the raw event in its next version's shape."""

_encoder = msgspec.json.Encoder()


def _build_decoder() -> msgspec.json.Decoder[Any]:
    union: Any = EVENT_TYPES[0]
    for event_type in EVENT_TYPES[1:]:
        union = union | event_type
    return msgspec.json.Decoder(union)


_decoder = _build_decoder()
KNOWN_TAGS = frozenset(t.type_tag() for t in EVENT_TYPES)


class UnknownEventType(ValueError):
    """The stored bytes carry a type tag this code does not know."""


def encode(event: Event) -> bytes:
    """Serialise ``event`` to its stored JSON form."""
    return _encoder.encode(event)


def decode(data: bytes) -> Event:
    """Parse stored bytes into an event, upcasting older versions first.

    Raises:
        UnknownEventType: The tag is neither current nor upcastable.
        msgspec.ValidationError: The payload does not match its declared type.
    """
    raw = msgspec.json.decode(data)
    tag = raw.get("type") if isinstance(raw, dict) else None
    if tag in KNOWN_TAGS:
        event: Event = _decoder.decode(data)
        return event
    while tag in UPCASTERS:
        raw = UPCASTERS[tag](raw)
        tag = raw.get("type")
    if tag not in KNOWN_TAGS:
        raise UnknownEventType(f"unknown event type {tag!r}")
    upcast: Event = _decoder.decode(_encoder.encode(raw))
    return upcast
