"""The loader's ``test_cluster`` RPC: probe a registered Spark Connect cluster on request."""

from __future__ import annotations

import asyncio
from typing import Any

from autoloader_core.errors import FieldError, ValidationFailed
from autoloader_loader.spark.clusters import ClusterDirectory
from autoloader_loader.spark.probe import ProbeReport, probe

PROBE_TIMEOUT_SECONDS = 30.0
"""Longest a probe may take; callers of the RPC should wait a little longer than this."""
_SAFETY_MARGIN = 5.0


class ClusterChecks:
    """RPC handler: resolve the cluster (URL and decrypted token) and probe it in a worker thread.

    Args:
        directory: Where clusters and their tokens are looked up.
        timeout_seconds: Longest a probe may take before it is reported as a timeout.
    """

    def __init__(self, directory: ClusterDirectory, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> None:
        self._directory = directory
        self._timeout = timeout_seconds

    async def test_cluster(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{tenant_id, cluster_id}`` -> the probe report (a failed check is a report, not an error).

        Raises:
            ValidationFailed: A field is missing or not a string.
            TerminalError: The cluster does not exist (any more) or has no URL.
            TransientError: NATS or the credential store did not answer.
        """
        tenant_id, cluster_id = _ids(request)
        target = await self._directory.target(tenant_id, cluster_id)
        if target is None:
            report = ProbeReport(reachable=True, message="the embedded engine runs inside the loader service")
            return {**report.as_dict(), "kind": "embedded"}
        # probe() enforces the timeout itself; wait_for only guards against a stuck worker pool.
        report = await asyncio.wait_for(
            asyncio.to_thread(probe, target, self._timeout), timeout=self._timeout + _SAFETY_MARGIN
        )
        return {**report.as_dict(), "kind": "spark_connect"}


def _ids(request: dict[str, Any]) -> tuple[str, str]:
    errors = [
        FieldError(name, "is required (a non-empty string)")
        for name in ("tenant_id", "cluster_id")
        if not isinstance(request.get(name), str) or not request[name]
    ]
    if errors:
        raise ValidationFailed(errors)
    return request["tenant_id"], request["cluster_id"]
