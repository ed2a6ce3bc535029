"""Opaque keyset cursors: the last item's sort key, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from litestar.params import KwargDefinition, QueryParameter

from autoloader_core.errors import FieldError, ValidationFailed


def bounded(low: int, high: int, what: str) -> KwargDefinition:
    """A query parameter documented as ``low..high`` in the OpenAPI schema.

    The range is enforced by the query (so the 422 says ``<name> must be between low and high``);
    this only tells clients, and fuzzers, what is allowed.
    """
    return QueryParameter(
        description=f"{what}, {low}..{high}", schema_extra={"minimum": low, "maximum": high}
    )


def encode_cursor(*values: Any) -> str:
    """Return an opaque cursor for the key ``values`` (datetimes become RFC 3339 strings)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[Any]:
    """Return the key values of ``cursor``.

    Raises:
        ValidationFailed: The cursor was not made by :func:`encode_cursor` with ``size`` values.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise ValidationFailed(
            [
                FieldError(
                    "cursor",
                    "invalid cursor; pass the previous page's next_cursor unchanged (with the same sort)",
                )
            ]
        )
    return values
