"""Turning read-model rows (or a freshly folded aggregate) into response bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from autoloader_api.domain.source_rules import MASK
from autoloader_api.memos import ingestion_config, next_run_time, schedule_description
from autoloader_api.schemas import (
    AlertBrief,
    ClusterOut,
    CurrentRun,
    FileOut,
    IngestionMetadata,
    IngestionOut,
    RunCost,
    RunOut,
    SchemaVersionOut,
    SourceOut,
)
from autoloader_contracts.cluster import ClusterConfig, ClusterState
from autoloader_contracts.ingestion import IngestionConfig, IngestionState
from autoloader_contracts.schedule import ScheduleError


def ingestion_from_row(
    row: Mapping[str, Any],
    *,
    now: datetime,
    credentials: Mapping[str, str] | None = None,
    estimated_monthly_cost: float | None = None,
    alerts: list[AlertBrief] | None = None,
    current_run: CurrentRun | None = None,
) -> IngestionOut:
    """Build the response for a ``read.ingestions`` row.

    Args:
        row: The read-model row.
        now: Current time (for the next run time).
        credentials: The masked credential fields of its source (``{field: "********"}``).
        estimated_monthly_cost: The cost model's monthly figure from its recent runs.
        alerts: Its active alerts.
        current_run: Its queued or running run, if any.
    """
    config = ingestion_config(row)
    alerts = alerts or []
    metadata = IngestionMetadata(
        next_run_time=_next_run_time(config, row["status"], now),
        schedule_description=_schedule_in_words(config),
        last_run_id=row["last_run_id"],
        last_run_time=row["last_run_time"],
        last_run_status=row["last_run_status"],
        backlog_files=row["backlog_files"],
        schema_version=row["schema_version"],
        estimated_monthly_cost=estimated_monthly_cost,
        health=health(row["status"], row["last_run_status"], active_alerts=len(alerts)),
        active_alerts=alerts,
        current_run=current_run,
    )
    return _ingestion(config, row, metadata, credentials or {})


def health(status: str, last_run_status: str | None, *, active_alerts: int) -> str:
    """The badge of an ingestion: draft, paused, error, warning or healthy."""
    if status in ("draft", "paused"):
        return status
    if status == "error" or last_run_status == "failed":
        return "error"
    if active_alerts or last_run_status == "partial":
        return "warning"
    return "healthy"


def ingestion_from_state(
    state: IngestionState, *, now: datetime, created_by: str | None, credentials: Mapping[str, str] | None = None
) -> IngestionOut:
    """Build the response from the aggregate itself (used only when the read model lags behind)."""
    fields = {
        "id": state.id,
        "status": state.status,
        "version": state.version,
        "created_by": created_by,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    metadata = IngestionMetadata(
        next_run_time=_next_run_time(state.config, state.status, now),
        schedule_description=_schedule_in_words(state.config),
        schema_version=state.schema_version or None,
        health=health(state.status, None, active_alerts=0),
    )
    return _ingestion(state.config, fields, metadata, credentials or {})


def _ingestion(
    config: IngestionConfig,
    fields: Mapping[str, Any],
    metadata: IngestionMetadata,
    credentials: Mapping[str, str],
) -> IngestionOut:
    source = config.source
    return IngestionOut(
        id=fields["id"],
        name=config.name,
        status=fields["status"],
        cluster_id=config.cluster_id,
        source=SourceOut(
            type=source.type,
            path=source.path,
            file_pattern=source.file_pattern,
            exclude_pattern=source.exclude_pattern,
            options=source.options,
            credentials=dict(credentials),
        ),
        format=config.format,
        destination=config.destination,
        schedule=config.schedule,
        discovery=config.discovery,
        errors=config.errors,
        quality=config.quality,
        engine=config.engine,
        version=fields["version"],
        created_by=fields["created_by"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
        metadata=metadata,
    )


def _schedule_in_words(config: IngestionConfig) -> str | None:
    try:
        return schedule_description(config.schedule)
    except ScheduleError:
        return None


def _next_run_time(config: IngestionConfig, status: str, now: datetime) -> datetime | None:
    if status != "active":
        return None
    try:
        return next_run_time(config.schedule, now)
    except ScheduleError:
        return None  # stored configs were validated; an old one that no longer parses just has no next run


def run_from_row(row: Mapping[str, Any], files: list[FileOut] | None = None) -> RunOut:
    """Build the response for a ``read.runs`` row (with its files for the single-run view)."""
    extra: dict[str, Any] = {} if files is None else {"files": files}
    return RunOut(
        id=row["id"],
        ingestion_id=row["ingestion_id"],
        status=row["status"],
        trigger=row["trigger"],
        scheduled_for=row["scheduled_for"],
        requested_at=row["requested_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        skip_reason=row["skip_reason"],
        metrics=_metrics(row["metrics"]),
        errors=row["errors"] or [],
        snapshot_ids=row["snapshot_ids"] or [],
        cost=msgspec.convert(row["cost"], RunCost) if row.get("cost") else RunCost(),
        **extra,
    )


def _metrics(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's metrics; runs completed before ``spark_seconds`` existed show it as 0 (embedded only then)."""
    metrics = dict(stored or {})
    if metrics:  # empty while the run is still going
        metrics.setdefault("spark_seconds", 0.0)
    return metrics


def file_from_row(row: Mapping[str, Any]) -> FileOut:
    """Build the response for a ``read.files`` row."""
    return FileOut(
        path=row["path"],
        size=row["size"],
        etag=row["etag"],
        modified_at=row["modified_at"],
        first_seen_at=row["first_seen_at"],
        run_id=row["run_id"],
        batch_id=row["batch_id"],
        state=row["state"],
        rows=row["rows"],
        snapshot_id=row["snapshot_id"],
        error=row["error"],
    )


def schema_version_from_row(row: Mapping[str, Any]) -> SchemaVersionOut:
    """Build the response for a ``read.schema_versions`` row."""
    return SchemaVersionOut(
        version=row["version"],
        status=row["status"],
        resolution=row["resolution"],
        diff=row["diff"],
        files=row["files"],
        run_id=row["run_id"],
        mode=row["mode"],
        detected_at=row["detected_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
    )


def cluster_from_state(state: ClusterState, *, ingestion_count: int) -> ClusterOut:
    """Build the response from the cluster aggregate (the token only as a mask)."""
    fields = {"id": state.id, "version": state.version, "created_at": state.created_at, "updated_at": state.updated_at}
    return _cluster(state.config, fields, ingestion_count)


def cluster_from_row(row: Mapping[str, Any], *, ingestion_count: int) -> ClusterOut:
    """Build the response for a ``read.clusters`` row."""
    return _cluster(msgspec.convert(row["config"], ClusterConfig), row, ingestion_count)


def _cluster(config: ClusterConfig, fields: Mapping[str, Any], ingestion_count: int) -> ClusterOut:
    return ClusterOut(
        id=fields["id"],
        name=config.name,
        kind=config.kind,
        url=config.url,
        token=MASK if config.token_ref else None,
        catalog=config.catalog,
        commit_strategy=config.commit_strategy,
        pricing=config.pricing,
        options=config.options,
        ingestion_count=ingestion_count,
        version=fields["version"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
    )


def current_run_from_row(row: Mapping[str, Any] | None) -> CurrentRun | None:
    """The ``metadata.current_run`` of a ``read.runs`` row of a queued or running run (None without one)."""
    if row is None:
        return None
    return CurrentRun(
        run_id=row["id"],
        status=row["status"],
        trigger=row["trigger"],
        requested_at=row["requested_at"],
        started_at=row["started_at"],
    )
