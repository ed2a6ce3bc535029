"""Source type -> connector (a dispatch table, not an if-chain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.base import Source
from autoloader_sources.local import LocalSource

SourceFactory = Callable[[SourceSpec, Sequence[Path]], Source]

_FACTORIES: dict[str, SourceFactory] = {
    "local": lambda spec, roots: LocalSource(
        spec.path, pattern=spec.file_pattern, exclude=spec.exclude_pattern, allowed_roots=roots
    ),
}

SUPPORTED_TYPES = tuple(_FACTORIES)


def open_source(spec: SourceSpec, *, allowed_roots: Sequence[Path]) -> Source:
    """Return the connector for ``spec``.

    Raises:
        TerminalError: The source type has no connector in this version.
    """
    factory = _FACTORIES.get(spec.type)
    if factory is None:
        raise TerminalError(f"source type {spec.type!r} is not available in this version")
    return factory(spec, allowed_roots)
