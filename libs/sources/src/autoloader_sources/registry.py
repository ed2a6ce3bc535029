"""Source type -> connector (a dispatch table, not an if-chain)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.base import Source
from autoloader_sources.local import LocalSource

Credentials = Mapping[str, str]
SourceFactory = Callable[[SourceSpec, Credentials | None, Sequence[Path]], Source]
"""Builds a connector from its spec, decrypted credentials (None: ambient identity) and the local roots."""

_FACTORIES: dict[str, SourceFactory] = {
    "local": lambda spec, _credentials, roots: LocalSource(
        spec.path, pattern=spec.file_pattern, exclude=spec.exclude_pattern, allowed_roots=roots
    ),
}


_MODULES = {
    "s3": "autoloader_sources.s3",
    "azure_blob": "autoloader_sources.azure",
    "gcs": "autoloader_sources.gcs",
    "ftp": "autoloader_sources.ftp",
    "sftp": "autoloader_sources.sftp",
}
"""Connector modules, imported on first use (cloud SDKs stay off the start-up path); each defines
``create(spec, credentials, allowed_roots) -> Source``."""

SOURCE_TYPES = ("local", *_MODULES)


def _factory(source_type: str) -> SourceFactory | None:
    if source_type not in _FACTORIES and source_type in _MODULES:
        module = importlib.import_module(_MODULES[source_type])
        _FACTORIES[source_type] = module.create
    return _FACTORIES.get(source_type)


def open_source(
    spec: SourceSpec, *, credentials: Credentials | None = None, allowed_roots: Sequence[Path] = ()
) -> Source:
    """Return the connector for ``spec`` (use it with ``async with``).

    Raises:
        TerminalError: The source type has no connector in this version, or the spec is invalid.
    """
    factory = _factory(spec.type)
    if factory is None:
        raise TerminalError(f"source type {spec.type!r} is not available in this version")
    return factory(spec, credentials, allowed_roots)
