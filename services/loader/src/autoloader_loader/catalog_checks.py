"""The loader's ``test_catalog`` RPC: open a registered catalog, list its namespaces, check its warehouse."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from pyarrow.fs import FileType
from pyiceberg.io.pyarrow import PyArrowFileIO

from autoloader_contracts.rpc import TestCatalogReply, TestCatalogRequest
from autoloader_core.errors import TerminalError, TransientError
from autoloader_loader.catalog_directory import CatalogDirectory
from autoloader_loader.catalogs import CatalogConnection, CatalogRefused, describe, list_namespaces, missing_bucket

CHECK_TIMEOUT_SECONDS = 30.0
"""Longest a check may take; the api waits a little longer for the reply."""


class CatalogChecks:
    """RPC handler: resolve the registration (with its decrypted credentials) and check it in a worker thread.

    Args:
        directory: Where catalogs and their credentials are looked up.
        timeout_seconds: Longest a check may take before it is reported as unreachable.
    """

    def __init__(self, directory: CatalogDirectory, timeout_seconds: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._directory = directory
        self._timeout = timeout_seconds

    async def test_catalog(self, request: TestCatalogRequest) -> TestCatalogReply:
        """Check the catalog; a failed check is a reply (``error_kind`` + ``message``), not an error.

        Raises:
            TransientError: NATS or the credential store did not answer.
        """
        connection = await self._directory.connection_by_id(request.tenant_id, request.catalog_id)
        if connection is None:
            return TestCatalogReply(
                reachable=False, message=f"catalog {request.catalog_id!r} is not registered", error_kind="error"
            )
        try:
            return await asyncio.wait_for(asyncio.to_thread(check, connection), timeout=self._timeout)
        except TimeoutError:
            return TestCatalogReply(
                reachable=False,
                message=f"{describe(connection)} did not answer within {self._timeout:.0f} s; check the URI",
                error_kind="unreachable",
            )


def check(connection: CatalogConnection) -> TestCatalogReply:
    """List the catalog's namespaces, then check that an ``s3://`` warehouse's bucket exists (blocking)."""
    started = time.perf_counter()
    try:
        namespaces = list_namespaces(connection)
    except CatalogRefused as exc:
        return TestCatalogReply(reachable=True, authenticated=False, message=str(exc), error_kind="unauthorized")
    except TransientError as exc:
        return TestCatalogReply(reachable=False, message=str(exc), error_kind="unreachable")
    except TerminalError as exc:
        return TestCatalogReply(reachable=True, message=str(exc), error_kind="error")
    round_trip_ms = round((time.perf_counter() - started) * 1000)  # the catalog's own answer
    found, problem, error_kind = _warehouse_check(connection)
    listed = f"connected: {len(namespaces)} namespace(s)"
    return TestCatalogReply(
        reachable=True,
        authenticated=True,
        namespaces=namespaces,
        warehouse_found=found,
        message=f"{listed}, but {problem}" if problem else listed + ("; the warehouse bucket exists" if found else ""),
        error_kind=error_kind,
        round_trip_ms=round_trip_ms,
    )


def _warehouse_check(connection: CatalogConnection) -> tuple[bool | None, str | None, str | None]:
    """``(warehouse_found, what is wrong, error_kind)`` of the catalog's warehouse."""
    try:
        found = warehouse_bucket_exists(connection)
    except TransientError as exc:
        return None, f"the warehouse could not be checked: {exc}", "error"
    if found is False:
        bucket = urlsplit(connection.warehouse or "").netloc
        return False, f"the warehouse bucket {bucket!r} does not exist: create it or fix warehouse", "warehouse_missing"
    return found, None, None


def warehouse_bucket_exists(connection: CatalogConnection) -> bool | None:
    """Whether the ``s3://`` warehouse's bucket exists, with the catalog's ``s3.*`` settings (None: no such warehouse).

    Raises:
        TransientError: The object store did not answer.
    """
    location = urlsplit(connection.warehouse or "")
    if location.scheme not in ("s3", "s3a") or not location.netloc:
        return None
    file_io = PyArrowFileIO(dict(connection.load_properties()))
    try:
        info = file_io.fs_by_scheme(location.scheme, location.netloc).get_file_info(location.netloc)
    except OSError as exc:
        if missing_bucket(exc) is not None:
            return False
        raise TransientError(f"the warehouse's object store did not answer ({exc})") from exc
    return info.type != FileType.NotFound
