"""How each event changes the read models (SQL on the ``read`` schema).

Every handler is idempotent on its own (inserts ignore duplicates, updates set absolute
values) and uses only data carried by the event — never ``now()`` — so replaying the log from
zero rebuilds exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from autoloader_contracts import events as ev
from autoloader_db.database import Connection

Projection = Callable[[Connection, Any, int], Awaitable[None]]


def _json(value: Any) -> Any:
    return msgspec.to_builtins(value)


async def _ingestion_created(conn: Connection, e: ev.IngestionCreated, seq: int) -> None:
    await conn.execute(
        """INSERT INTO read.ingestions (id, tenant_id, name, status, source_type, config, version, created_by,
                                        created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING""",
        e.aggregate_id,
        e.tenant_id,
        e.config.name,
        e.status,
        e.config.source.type,
        _json(e.config),
        seq,
        e.actor,
        e.occurred_at,
    )


async def _ingestion_updated(conn: Connection, e: ev.IngestionUpdated, seq: int) -> None:
    await conn.execute(
        """UPDATE read.ingestions SET name = $3, config = $4, source_type = $5, version = $6, updated_at = $7
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        e.config.name,
        _json(e.config),
        e.config.source.type,
        seq,
        e.occurred_at,
    )


def _status_change(status: str) -> Projection:
    async def project(conn: Connection, e: ev.IngestionEvent, seq: int) -> None:
        await conn.execute(
            "UPDATE read.ingestions SET status = $3, version = $4, updated_at = $5 WHERE id = $1 AND tenant_id = $2",
            e.aggregate_id,
            e.tenant_id,
            status,
            seq,
            e.occurred_at,
        )

    return project


async def _run_requested(conn: Connection, e: ev.RunRequested, seq: int) -> None:
    await conn.execute(
        """INSERT INTO read.runs (id, tenant_id, ingestion_id, status, trigger, scheduled_for, requested_at,
                                  requested_by)
           VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING""",
        e.aggregate_id,
        e.tenant_id,
        e.ingestion_id,
        e.trigger,
        e.scheduled_for,
        e.occurred_at,
        e.actor,
    )


async def _run_started(conn: Connection, e: ev.RunStarted, seq: int) -> None:
    await conn.execute(
        "UPDATE read.runs SET status = 'running', started_at = $2 WHERE id = $1 AND status = 'queued'",
        e.aggregate_id,
        e.occurred_at,
    )


async def _run_skipped(conn: Connection, e: ev.RunSkipped, seq: int) -> None:
    await conn.execute(
        """UPDATE read.runs SET status = 'skipped', skip_reason = $2, ended_at = $3,
                  started_at = COALESCE(started_at, $3) WHERE id = $1""",
        e.aggregate_id,
        e.reason,
        e.occurred_at,
    )
    await _add_daily(conn, e, runs=1, skipped=1)


async def _files_discovered(conn: Connection, e: ev.FilesDiscovered, seq: int) -> None:
    progress = {"files_discovered": e.files_new, "backlog_files": e.backlog_files}
    await conn.execute(
        "UPDATE read.runs SET metrics = metrics || $2::jsonb WHERE id = $1",
        e.aggregate_id,
        progress,
    )
    await conn.execute(
        "UPDATE read.ingestions SET backlog_files = $2 WHERE id = $1 AND tenant_id = $3",
        e.ingestion_id,
        e.backlog_files,
        e.tenant_id,
    )


async def _files_skipped(conn: Connection, e: ev.FilesSkipped, seq: int) -> None:
    await conn.executemany(
        """INSERT INTO read.files (tenant_id, ingestion_id, path, identity, size, etag, modified_at, first_seen_at,
                                   state, error, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'skipped', $9, $8)
           ON CONFLICT (ingestion_id, path, identity) DO NOTHING""",
        [
            (e.tenant_id, e.ingestion_id, f.path, f.identity, f.size, f.etag, f.modified_at, e.occurred_at, e.reason)
            for f in e.files
        ],
    )


async def _run_completed(conn: Connection, e: ev.RunCompleted, seq: int) -> None:
    await conn.execute(
        """UPDATE read.runs SET status = $2, started_at = COALESCE(started_at, $3), ended_at = $4, metrics = $5,
                  errors = $6, snapshot_ids = $7, cost = $8 WHERE id = $1""",
        e.aggregate_id,
        e.status,
        e.started_at,
        e.occurred_at,
        _json(e.metrics),
        _json(e.errors),
        list(e.snapshot_ids),
        _json(e.cost) if e.cost is not None else None,
    )
    m = e.metrics
    await _add_daily(
        conn,
        e,
        runs=1,
        **{e.status: 1},
        files=m.files_processed,
        files_failed=m.files_failed,
        rows=m.records_ingested,
        bytes=m.bytes_read,
        duration_sum=m.duration_seconds,
        cost_actual=(e.cost.actual or 0.0) if e.cost is not None else 0.0,
        cost_estimated=(e.cost.estimated or 0.0) if e.cost is not None else 0.0,
    )
    await conn.execute(
        """UPDATE read.ingestions SET last_run_id = $2, last_run_status = $3, last_run_time = $4
           WHERE id = $1 AND (last_run_time IS NULL OR last_run_time <= $4)""",
        e.ingestion_id,
        e.aggregate_id,
        e.status,
        e.occurred_at,
    )


async def _batch_planned(conn: Connection, e: ev.BatchPlanned, seq: int) -> None:
    rows = [
        (
            e.tenant_id,
            e.ingestion_id,
            f.path,
            f.identity,
            f.size,
            f.etag,
            f.modified_at,
            e.occurred_at,
            e.run_id,
            e.aggregate_id,
        )
        for f in e.files
    ]
    await conn.executemany(
        """INSERT INTO read.files (tenant_id, ingestion_id, path, identity, size, etag, modified_at, first_seen_at,
                                   run_id, batch_id, state, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'loading', $8)
           ON CONFLICT (ingestion_id, path, identity) DO UPDATE
           SET run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id, state = 'loading', error = NULL,
               updated_at = EXCLUDED.updated_at""",
        rows,
    )


async def _batch_loaded(conn: Connection, e: ev.BatchLoaded, seq: int) -> None:
    # One set-based statement per outcome (not one per file): a batch may hold thousands of files.
    await conn.execute(
        """UPDATE read.files f SET state = 'loaded', rows = u.rows, snapshot_id = $4, error = NULL, updated_at = $5
           FROM unnest($2::text[], $3::bigint[]) AS u(path, rows)
           WHERE f.batch_id = $1 AND f.path = u.path""",
        e.aggregate_id,
        [f.path for f in e.files],
        [f.rows for f in e.files],
        e.snapshot_id,
        e.occurred_at,
    )
    # Files the bad-data policy (on_error=skip_file) left out of the batch.
    failed = [f for f in e.failed_files if f.file]
    if failed:
        await conn.execute(
            """UPDATE read.files f SET state = 'failed', error = u.error, updated_at = $4
               FROM unnest($2::text[], $3::text[]) AS u(path, error)
               WHERE f.batch_id = $1 AND f.path = u.path""",
            e.aggregate_id,
            [f.file for f in failed],
            [f.message for f in failed],
            e.occurred_at,
        )


async def _batch_failed(conn: Connection, e: ev.BatchFailed, seq: int) -> None:
    await conn.execute(
        "UPDATE read.files SET state = 'failed', error = $2, updated_at = $3 WHERE batch_id = $1",
        e.aggregate_id,
        e.error.message,
        e.occurred_at,
    )


async def _schema_change_detected(conn: Connection, e: ev.SchemaChangeDetected, seq: int) -> None:
    status = "pending" if e.resolution == "pending" else "applied"
    await conn.execute(
        """INSERT INTO read.schema_versions (tenant_id, ingestion_id, version, diff, files, run_id, mode, status,
                                             resolution, detected_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (ingestion_id, version) DO NOTHING""",
        e.tenant_id,
        e.aggregate_id,
        e.version,
        _json(e.diff),
        e.files,
        e.run_id,
        e.mode,
        status,
        e.resolution,
        e.occurred_at,
    )
    await conn.execute(
        """UPDATE read.ingestions SET schema_version = GREATEST(COALESCE(schema_version, 0), $3),
                  status = CASE WHEN $4 AND status <> 'deleted' THEN 'error' ELSE status END, version = $5
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        e.version,
        status == "pending",
        seq,
    )


async def _schema_change_resolved(conn: Connection, e: ev.SchemaChangeResolved, seq: int) -> None:
    updated = await conn.execute(
        """UPDATE read.schema_versions SET status = 'resolved', resolution = $4, resolved_by = $5, resolved_at = $6
           WHERE ingestion_id = $1 AND tenant_id = $2 AND version = $3 AND status = 'pending'""",
        e.aggregate_id,
        e.tenant_id,
        e.version,
        e.action,
        e.by,
        e.occurred_at,
    )
    if updated.endswith(" 0"):
        return
    await conn.execute(
        """UPDATE read.ingestions SET status = CASE WHEN status = 'error' THEN 'active' ELSE status END,
                  version = $3, updated_at = $4
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        seq,
        e.occurred_at,
    )


_DAILY_COLUMNS = (
    "runs", "success", "partial", "failed", "skipped", "files", "files_failed", "rows", "bytes",
    "duration_sum", "cost_actual", "cost_estimated",
)


async def _add_daily(conn: Connection, e: ev.RunEvent, **amounts: float) -> None:
    """Add ``amounts`` to the ingestion's roll-up of the UTC day ``e`` happened (the dashboard's totals)."""
    columns = [name for name in _DAILY_COLUMNS if name in amounts]
    values = [amounts[name] for name in columns]
    names = ", ".join(columns)
    placeholders = ", ".join(f"${i + 4}" for i in range(len(columns)))
    updates = ", ".join(f"{name} = read.daily_run_stats.{name} + EXCLUDED.{name}" for name in columns)
    await conn.execute(
        f"""INSERT INTO read.daily_run_stats (tenant_id, ingestion_id, day, {names})
            VALUES ($1, $2, $3, {placeholders})
            ON CONFLICT (ingestion_id, day) DO UPDATE SET {updates}""",  # noqa: S608 - whitelisted names
        e.tenant_id,
        e.ingestion_id,
        e.occurred_at.date(),
        *values,
    )


async def _processed_files_cleared(conn: Connection, e: ev.ProcessedFilesCleared, seq: int) -> None:
    # Discovery appends this before the run's BatchPlanned events, so their rows come after.
    await conn.execute(
        "DELETE FROM read.files WHERE ingestion_id = $1 AND tenant_id = $2", e.ingestion_id, e.tenant_id
    )


async def _alert_raised(conn: Connection, e: ev.AlertRaised, seq: int) -> None:
    await conn.execute(
        """INSERT INTO read.alerts (id, tenant_id, ingestion_id, kind, message, details, raised_at, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'active') ON CONFLICT (id) DO NOTHING""",
        e.aggregate_id,
        e.tenant_id,
        e.ingestion_id,
        e.kind,
        e.message,
        dict(e.details),
        e.occurred_at,
    )


async def _alert_cleared(conn: Connection, e: ev.AlertCleared, seq: int) -> None:
    await conn.execute(
        """UPDATE read.alerts SET status = 'cleared', cleared_at = $3, clear_reason = $4
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        e.occurred_at,
        e.reason,
    )


_ENVELOPE = frozenset(
    {"type", "event_id", "occurred_at", "tenant_id", "aggregate_id", "actor", "correlation_id", "causation_id"}
)
_NOT_AUDITED = frozenset({"batch", "cluster", "catalog"})
"""Batch events are the loader's working steps (their outcomes reach the run's events); clusters and
catalogs have no ingestion."""


async def audit(conn: Connection, e: ev.Event, seq: int) -> None:
    """Record ``e`` in its ingestion's audit trail (``read.ingestion_events``), if it belongs to one."""
    ingestion_id = e.aggregate_id if e.aggregate == "ingestion" else getattr(e, "ingestion_id", None)
    if ingestion_id is None or e.aggregate in _NOT_AUDITED:
        return
    data = {k: v for k, v in msgspec.to_builtins(e).items() if k not in _ENVELOPE}
    await conn.execute(
        """INSERT INTO read.ingestion_events (seq, tenant_id, ingestion_id, type, occurred_at, actor, aggregate,
                                              aggregate_id, correlation_id, causation_id, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (seq) DO NOTHING""",
        seq,
        e.tenant_id,
        ingestion_id,
        e.type_tag(),
        e.occurred_at,
        e.actor,
        e.aggregate,
        e.aggregate_id,
        e.correlation_id,
        e.causation_id,
        data,
    )


async def _cluster_registered(conn: Connection, e: ev.ClusterRegistered, seq: int) -> None:
    await conn.execute(
        """INSERT INTO read.clusters (id, tenant_id, name, kind, config, version, created_by, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING""",
        e.aggregate_id,
        e.tenant_id,
        e.config.name,
        e.config.kind,
        _json(e.config),
        seq,
        e.actor,
        e.occurred_at,
    )


async def _cluster_updated(conn: Connection, e: ev.ClusterUpdated, seq: int) -> None:
    await conn.execute(
        """UPDATE read.clusters SET name = $3, kind = $4, config = $5, version = $6, updated_at = $7
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        e.config.name,
        e.config.kind,
        _json(e.config),
        seq,
        e.occurred_at,
    )


async def _cluster_removed(conn: Connection, e: ev.ClusterRemoved, seq: int) -> None:
    await conn.execute("DELETE FROM read.clusters WHERE id = $1 AND tenant_id = $2", e.aggregate_id, e.tenant_id)


async def _catalog_registered(conn: Connection, e: ev.CatalogRegistered, seq: int) -> None:
    # A name registered again after its removal reuses the (deterministic) id: the row is replaced.
    await conn.execute(
        """INSERT INTO read.catalogs (id, tenant_id, name, type, config, version, created_by, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
           ON CONFLICT (id) DO UPDATE SET type = $4, config = $5, version = $6, created_by = $7,
               created_at = $8, updated_at = $8
           WHERE read.catalogs.version < $6""",
        e.aggregate_id,
        e.tenant_id,
        e.config.name,
        e.config.type,
        _json(e.config),
        seq,
        e.actor,
        e.occurred_at,
    )


async def _catalog_updated(conn: Connection, e: ev.CatalogUpdated, seq: int) -> None:
    await conn.execute(
        """UPDATE read.catalogs SET type = $3, config = $4, version = $5, updated_at = $6
           WHERE id = $1 AND tenant_id = $2""",
        e.aggregate_id,
        e.tenant_id,
        e.config.type,
        _json(e.config),
        seq,
        e.occurred_at,
    )


async def _catalog_removed(conn: Connection, e: ev.CatalogRemoved, seq: int) -> None:
    await conn.execute("DELETE FROM read.catalogs WHERE id = $1 AND tenant_id = $2", e.aggregate_id, e.tenant_id)


PROJECTIONS: dict[type[ev.Event], Projection] = {
    ev.IngestionCreated: _ingestion_created,
    ev.IngestionUpdated: _ingestion_updated,
    ev.IngestionActivated: _status_change("active"),
    ev.IngestionPaused: _status_change("paused"),
    ev.IngestionResumed: _status_change("active"),
    ev.IngestionDeleted: _status_change("deleted"),
    ev.RunRequested: _run_requested,
    ev.RunStarted: _run_started,
    ev.RunSkipped: _run_skipped,
    ev.FilesDiscovered: _files_discovered,
    ev.RunCompleted: _run_completed,
    ev.BatchPlanned: _batch_planned,
    ev.BatchLoaded: _batch_loaded,
    ev.BatchFailed: _batch_failed,
    ev.FilesSkipped: _files_skipped,
    ev.ProcessedFilesCleared: _processed_files_cleared,
    ev.AlertRaised: _alert_raised,
    ev.AlertCleared: _alert_cleared,
    ev.SchemaChangeDetected: _schema_change_detected,
    ev.SchemaChangeResolved: _schema_change_resolved,
    ev.ClusterRegistered: _cluster_registered,
    ev.ClusterUpdated: _cluster_updated,
    ev.ClusterRemoved: _cluster_removed,
    ev.CatalogRegistered: _catalog_registered,
    ev.CatalogUpdated: _catalog_updated,
    ev.CatalogRemoved: _catalog_removed,
}
