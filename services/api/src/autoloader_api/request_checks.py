"""Checks every request passes before its handler runs.

PostgreSQL cannot store a NUL character in text, and no identifier, name, filter or cursor of this
API may hold one. A NUL in the path, a query parameter or a JSON body's string is refused up front
with the field's name. Otherwise it would reach a query (a server error), or worse, be accepted
into the event log and then fail every projection of that event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Request

from autoloader_core.errors import FieldError, ValidationFailed

_NUL = "\x00"
_MESSAGE = "contains a NUL character (\\u0000, %00); remove it"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def reject_nul_characters(request: Request[Any, Any, Any]) -> None:
    """Refuse a request whose path, query string or JSON body holds a NUL character.

    Only ``/api/`` requests are checked: health and metrics take no input that reaches a query.
    A body that is not JSON is left to the handler (which answers 400).

    Raises:
        ValidationFailed: Naming each offending query parameter, body field (``source.path``,
            ``destination.merge_keys[0]``) or ``path``.
    """
    if not request.url.path.startswith("/api/"):
        return
    fields = [name for name, value in request.query_params.multi_items() if _NUL in name or _NUL in value]
    if _NUL in request.url.path:
        fields.append("path")
    if request.method in _BODY_METHODS:
        fields += await _body_fields_with_nul(request)
    if fields:
        raise ValidationFailed([FieldError(field, _MESSAGE) for field in fields])


async def _body_fields_with_nul(request: Request[Any, Any, Any]) -> list[str]:
    body = await request.body()  # cached: the handler reads the same bytes
    if b"\\u0000" not in body and b"\x00" not in body:
        return []  # the common case: no need to decode twice
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    return list(_paths_with_nul(decoded, ""))


def _paths_with_nul(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if _NUL in value:
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _NUL in str(key):
                yield child
            else:
                yield from _paths_with_nul(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_with_nul(item, f"{path}[{index}]")
