"""``POST /ingestions/test-connection``: list the source with the request's credentials (not stored).

The real connector answers; every failure becomes a report with a message (HTTP 200), and no
message ever carries a credential value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from autoloader_api.domain.source_rules import MASK, normalise_credentials
from autoloader_api.domain.validation import validate_source
from autoloader_api.schemas import CheckConnection, ConnectionResult, SampleFile
from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import AutoloaderError, ValidationFailed
from autoloader_sources.base import ConnectionReport, check_connection
from autoloader_sources.local import confine_path
from autoloader_sources.registry import open_source

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 30.0
_MIN_SCRUB_LENGTH = 4  # shorter values (e.g. a 3-letter user name) would blank ordinary words


async def check_source_connection(
    body: CheckConnection,
    *,
    allowed_roots: Sequence[Path],
    folder_check: Callable[[Path], Awaitable[None]] | None = None,
    time_limit: float = CHECK_TIMEOUT_SECONDS,
) -> ConnectionResult:
    """Validate the source of ``body`` and report what its connector finds.

    Args:
        body: The source (or a whole create body).
        allowed_roots: Where local sources may read.
        folder_check: Refuses a local folder the caller may not read (another tenant's).
        time_limit: Longest wait for the connector.

    Raises:
        ValidationFailed: The source configuration is invalid (nothing is contacted).
    """
    source = body.source
    spec = source.to_spec()
    sent = source.credentials
    errors = validate_source(
        spec, allowed_roots=allowed_roots, credentials=sent, credentials_given=sent is not None
    )
    if errors:
        raise ValidationFailed(errors)
    if folder_check is not None and spec.type == "local":
        await folder_check(confine_path(spec.path, allowed_roots))
    credentials = normalise_credentials(sent) if sent else None
    report = await _probe(spec, credentials, allowed_roots, time_limit)
    return _result(report, _secret_strings(credentials or {}))


async def _probe(
    spec: SourceSpec, credentials: Mapping[str, str] | None, roots: Sequence[Path], time_limit: float
) -> ConnectionReport:
    try:
        connector = open_source(spec, credentials=credentials, allowed_roots=roots)
        return await asyncio.wait_for(check_connection(connector), time_limit)
    except ImportError:
        message = f"the {spec.type} connector is not installed in this version of Autoloader"
    except TimeoutError:
        message = f"no answer within {time_limit:.0f} s; check the host or endpoint and the network path to it"
    except AutoloaderError as exc:
        message = exc.message
    except Exception as exc:  # a connector bug must still answer, not 500
        log.warning("connection check failed unexpectedly", extra={"error_type": type(exc).__name__})
        message = f"the connection check failed unexpectedly ({type(exc).__name__}); see the API log"
    return ConnectionReport(reachable=False, authorised=False, message=message)


def _result(report: ConnectionReport, secrets: Sequence[str]) -> ConnectionResult:
    return ConnectionResult(
        reachable=report.reachable,
        authorised=report.authorised,
        file_count=report.file_count,
        total_bytes=report.total_bytes,
        capped=report.capped,
        sample=[SampleFile(path=f.path, size=f.size, modified_at=f.modified_at) for f in report.sample],
        message=_scrub(report.message, secrets),
    )


def _secret_strings(credentials: Mapping[str, str]) -> list[str]:
    """Every credential value, and the string values inside JSON ones (a key file's private key)."""
    found = list(credentials.values())
    for value in credentials.values():
        try:
            parsed = json.loads(value)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            found += [inner for inner in parsed.values() if isinstance(inner, str)]
    # Longest first: a value that contains another is replaced whole.
    return sorted({s for s in found if len(s) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True)


def _scrub(message: str, secrets: Sequence[str]) -> str:
    # Defence in depth: connectors must not echo credentials, but a driver message might.
    for secret in secrets:
        message = message.replace(secret, MASK)
    return message
