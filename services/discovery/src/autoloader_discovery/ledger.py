"""The discovery service's own tables: file ledger, runs and batches (schema ``discovery``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoloader_contracts.codec import decode, encode
from autoloader_contracts.events import BatchPlanned, FileRef, RunError
from autoloader_db.database import Connection, Pool, UniqueViolation


@dataclass(frozen=True)
class RunningRun:
    """A run the watchdog looks at."""

    run_id: str
    tenant_id: str
    ingestion_id: str
    planned: bool


@dataclass(frozen=True)
class RunRow:
    """Discovery's bookkeeping of one run."""

    run_id: str
    status: str
    planned: bool
    started_at: datetime
    files_listed: int
    backlog_files: int
    correlation_id: str
    estimated_cost: float | None = None
    operation_files: int | None = None
    """Files a run-control step affected: ledger entries forgotten, or files marked seen (reset)."""


class AnotherRunActive(Exception):
    """The ingestion already has a running run (``run_id``)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


class Ledger:
    """SQL access to the ``discovery`` schema."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> Pool:
        """The connection pool (for the module-level helpers)."""
        return self._pool

    async def get_run(self, run_id: str) -> RunRow | None:
        """Return the run's row, if discovery has taken it on."""
        row = await self._pool.fetchrow(
            """SELECT run_id, status, planned, started_at, files_listed, backlog_files, correlation_id,
                      estimated_cost, operation_files
               FROM discovery.runs WHERE run_id = $1""",
            run_id,
        )
        return RunRow(**dict(row.items())) if row else None

    async def start_run(
        self,
        *,
        run_id: str,
        tenant_id: str,
        ingestion_id: str,
        trigger: str,
        started_at: datetime,
        correlation_id: str,
    ) -> None:
        """Record the run as running.

        Raises:
            AnotherRunActive: The ingestion has a running run already (a unique index decides).
        """
        try:
            await self._pool.execute(
                """INSERT INTO discovery.runs (run_id, tenant_id, ingestion_id, status, trigger, started_at,
                                               correlation_id)
                   VALUES ($1, $2, $3, 'running', $4, $5, $6)""",
                run_id,
                tenant_id,
                ingestion_id,
                trigger,
                started_at,
                correlation_id,
            )
        except UniqueViolation:
            active = await self._pool.fetchval(
                "SELECT run_id FROM discovery.runs WHERE ingestion_id = $1 AND status = 'running'",
                ingestion_id,
            )
            raise AnotherRunActive(active or "unknown") from None

    async def unmatched_identities(
        self, ingestion_id: str, paths: Sequence[str], identities: Sequence[str], *, states: Sequence[str] | None = None
    ) -> dict[int, bool]:
        """Which listed files the ledger lacks under their listed identity: one query for the whole page.

        ``paths[i]`` was listed with ``identities[i]``. Only ledger rows in ``states`` count when
        given. The anti-join runs in PostgreSQL (an index probe per file on the ledger's primary
        key), so a page of known files returns no row at all.

        Returns:
            The position of every unmatched file, in listing order, mapped to whether the ledger
            holds its path under another identity (a changed file) rather than not at all (new).
        """
        # Two JSON texts, not two text[]: asyncpg checks every element of an array parameter for
        # nesting (two ABC isinstance calls each), which costs about as much as the query itself.
        listed = (_json_text(list(paths)), _json_text(list(identities)))
        async with self._pool.acquire() as conn, conn.transaction():
            # A plan for this page's ledger as it is now. A cached generic plan made while the ledger
            # was empty (an ingestion's first run sends this query too) seq-scans it once per listed
            # file: 0.7 s a page of 1,000 on a 100,000-file ledger, until autovacuum's ANALYZE.
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            if states is None:
                rows = await conn.fetch(_UNMATCHED, ingestion_id, *listed)
            else:
                rows = await conn.fetch(_UNMATCHED_IN_STATES, ingestion_id, *listed, list(states))
        return {row[0] - 1: row[1] for row in rows}

    async def claim(
        self,
        *,
        run_id: str,
        tenant_id: str,
        ingestion_id: str,
        batches: list[BatchPlanned],
        files_listed: int,
        backlog_files: int,
        retry_of: str | None = None,
        forget: bool = False,
        estimated_cost: float | None = None,
        operation_files: int | None = None,
    ) -> None:
        """Claim the batches' files and store the batches, atomically with marking the run planned.

        With ``retry_of``, the files' failed rows of that run are replaced (a retry re-claims them,
        under their current identity). With ``forget``, the ingestion's ledger and incremental
        listing position are forgotten first, in the same transaction. A claimed file whose row
        says skipped or failed (a backfill takes those) is claimed again.
        """
        ledger_rows = [
            (
                tenant_id,
                ingestion_id,
                f.path,
                f.identity,
                f.size,
                f.etag,
                f.modified_at,
                b.occurred_at,
                run_id,
                b.aggregate_id,
            )
            for b in batches
            for f in b.files
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            if forget:
                operation_files = await _forget(conn, ingestion_id)
            if retry_of is not None:
                await conn.execute(
                    "DELETE FROM discovery.ledger WHERE run_id = $1 AND state = 'failed' AND path = ANY($2::text[])",
                    retry_of,
                    [row[2] for row in ledger_rows],
                )
            await conn.executemany(
                """INSERT INTO discovery.ledger (tenant_id, ingestion_id, path, identity, size, etag, modified_at,
                                                 first_seen_at, run_id, batch_id, state)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'loading')
                   ON CONFLICT (ingestion_id, path, identity) DO UPDATE
                   SET run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id, state = 'loading', error = NULL,
                       rows = NULL, snapshot_id = NULL
                   WHERE discovery.ledger.state IN ('skipped', 'failed')""",
                ledger_rows,
            )
            await conn.executemany(
                """INSERT INTO discovery.batches (batch_id, run_id, batch_number, state, planned_event)
                   VALUES ($1, $2, $3, 'planned', $4)""",
                [(b.aggregate_id, run_id, b.batch_number, encode(b)) for b in batches],
            )
            await conn.execute(
                """UPDATE discovery.runs SET planned = true, files_listed = $2, backlog_files = $3,
                          operation_files = $4, estimated_cost = $5 WHERE run_id = $1""",
                run_id,
                files_listed,
                backlog_files,
                operation_files,
                estimated_cost,
            )

    async def planned_batches(self, run_id: str) -> list[BatchPlanned]:
        """Return the run's stored batch plans, in order (to re-publish after a crash)."""
        rows = await self._pool.fetch(
            "SELECT planned_event FROM discovery.batches WHERE run_id = $1 ORDER BY batch_number", run_id
        )
        plans = [decode(bytes(r["planned_event"])) for r in rows]
        return [p for p in plans if isinstance(p, BatchPlanned)]

    async def batch_loaded(
        self,
        *,
        batch_id: str,
        rows_by_path: dict[str, int],
        rows: int,
        size: int,
        snapshot_id: int | None,
        failed_files: Sequence[RunError] = (),
        rejected_rows: int = 0,
        row_errors: Sequence[RunError] = (),
        spark_seconds: float | None = None,
    ) -> None:
        """Mark a batch and its files loaded, and the files the bad-data policy left out failed (idempotent).

        A file of the batch that is neither loaded nor reported failed (an earlier delivery's
        report was lost) is marked failed too, so that a run never waits on it.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE discovery.batches SET state = 'loaded', rows = $2, bytes = $3, snapshot_id = $4,
                          rejected_rows = $5, bad_data = $6, spark_seconds = $7
                   WHERE batch_id = $1""",
                batch_id,
                rows,
                size,
                snapshot_id,
                rejected_rows,
                [_error_dict(e) for e in [*failed_files, *row_errors]],
                spark_seconds,
            )
            # Set-based (one statement, not one per file): the per-file form rescanned the batch's
            # ledger rows for every file, quadratic in the batch size.
            await conn.execute(
                """UPDATE discovery.ledger l SET state = 'loaded', rows = u.rows, snapshot_id = $4, error = NULL
                   FROM unnest($2::text[], $3::bigint[]) AS u(path, rows)
                   WHERE l.batch_id = $1 AND l.path = u.path""",
                batch_id,
                list(rows_by_path),
                list(rows_by_path.values()),
                snapshot_id,
            )
            failed = [e for e in failed_files if e.file]
            if failed:
                await conn.execute(
                    """UPDATE discovery.ledger l SET state = 'failed', error = u.error
                       FROM unnest($2::text[], $3::text[]) AS u(path, error)
                       WHERE l.batch_id = $1 AND l.path = u.path""",
                    batch_id,
                    [e.file for e in failed],
                    [e.message for e in failed],
                )
            await conn.execute(
                """UPDATE discovery.ledger SET state = 'failed',
                          error = 'the loader reported the batch without this file; retry the run'
                   WHERE batch_id = $1 AND state = 'loading'""",
                batch_id,
            )

    async def batch_failed(self, *, batch_id: str, error: RunError) -> None:
        """Mark a batch and its files failed (idempotent)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE discovery.batches SET state = 'failed', error = $2 WHERE batch_id = $1 AND state <> 'loaded'",
                batch_id,
                _error_dict(error),
            )
            await conn.execute(
                "UPDATE discovery.ledger SET state = 'failed', error = $2 WHERE batch_id = $1 AND state <> 'loaded'",
                batch_id,
                error.message,
            )

    async def forget_schema_change_failures(self, ingestion_id: str) -> int:
        """Forget the ingestion's files that failed on a schema change, so the next listing finds them new.

        Returns:
            How many ledger rows were removed.
        """
        status = await self._pool.execute(
            """DELETE FROM discovery.ledger l USING discovery.batches b
               WHERE l.batch_id = b.batch_id AND l.ingestion_id = $1 AND l.state = 'failed'
                 AND b.error->>'error_type' = 'schema_change'""",
            ingestion_id,
        )
        return int(status.split()[-1])

    async def failed_paths(self, run_id: str) -> list[str]:
        """The paths of the files that failed in ``run_id`` (and were not retried since), sorted."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT path FROM discovery.ledger WHERE run_id = $1 AND state = 'failed' ORDER BY path", run_id
        )
        return [r["path"] for r in rows]

    async def run_of_batch(self, batch_id: str) -> str | None:
        """Return the run id a batch belongs to."""
        value = await self._pool.fetchval("SELECT run_id FROM discovery.batches WHERE batch_id = $1", batch_id)
        return str(value) if value else None

    async def running_since(self, started_before: datetime, *, limit: int = 100) -> list[RunningRun]:
        """Runs still running that started before ``started_before`` (oldest first)."""
        rows = await self._pool.fetch(
            """SELECT run_id, tenant_id, ingestion_id, planned FROM discovery.runs
               WHERE status = 'running' AND started_at < $1 ORDER BY started_at LIMIT $2""",
            started_before,
            limit,
        )
        return [RunningRun(**dict(r.items())) for r in rows]

    async def batch_states(self, run_id: str) -> dict[str, str]:
        """Each of the run's batches and its state (``planned``, ``loaded`` or ``failed``)."""
        rows = await self._pool.fetch("SELECT batch_id, state FROM discovery.batches WHERE run_id = $1", run_id)
        return {r["batch_id"]: r["state"] for r in rows}

    async def batch_summary(self, run_id: str) -> dict[str, Any]:
        """Aggregate the run's batches: counts by state, files, rows, bytes, errors, snapshots."""
        rows = await self._pool.fetch(
            """SELECT b.state, b.rows, b.bytes, b.snapshot_id, b.error, b.rejected_rows, b.bad_data, b.spark_seconds,
                      (SELECT count(*) FROM discovery.ledger l WHERE l.batch_id = b.batch_id) AS files,
                      (SELECT count(*) FROM discovery.ledger l
                        WHERE l.batch_id = b.batch_id AND l.state = 'failed') AS files_failed
               FROM discovery.batches b WHERE b.run_id = $1 ORDER BY b.batch_number""",
            run_id,
        )
        return {"batches": [dict(r.items()) for r in rows]}

    async def complete_run(self, run_id: str, completed_at: datetime, *, work: RunWork | None = None) -> None:
        """Mark the run completed (frees the ingestion for its next run), with what it did for the cost model."""
        work = work or RunWork()
        await self._pool.execute(
            """UPDATE discovery.runs SET status = 'completed', completed_at = $2, bytes_read = $3,
                      duration_seconds = $4, spark_seconds = $5, batches = $6
               WHERE run_id = $1 AND status = 'running'""",
            run_id,
            completed_at,
            work.bytes_read,
            work.duration_seconds,
            work.spark_seconds,
            work.batches,
        )

    async def run_history(self, ingestion_id: str, *, limit: int = 20) -> list[RunWork]:
        """What the ingestion's last completed runs did, newest first (the cost model's history)."""
        rows = await self._pool.fetch(
            """SELECT bytes_read, duration_seconds, spark_seconds, batches FROM discovery.runs
               WHERE ingestion_id = $1 AND status = 'completed' AND bytes_read IS NOT NULL
               ORDER BY completed_at DESC LIMIT $2""",
            ingestion_id,
            limit,
        )
        return [RunWork(**dict(r.items())) for r in rows]


_UNMATCHED = """
    SELECT u.n, EXISTS (SELECT 1 FROM discovery.ledger o WHERE o.ingestion_id = $1 AND o.path = u.path)
    FROM ROWS FROM (json_array_elements_text($2::json), json_array_elements_text($3::json))
         WITH ORDINALITY AS u(path, identity, n)
    WHERE NOT EXISTS (SELECT 1 FROM discovery.ledger l
                      WHERE l.ingestion_id = $1 AND l.path = u.path AND l.identity = u.identity)
    ORDER BY u.n"""
_UNMATCHED_IN_STATES = """
    SELECT u.n, EXISTS (SELECT 1 FROM discovery.ledger o
                        WHERE o.ingestion_id = $1 AND o.path = u.path AND o.state = ANY($4::text[]))
    FROM ROWS FROM (json_array_elements_text($2::json), json_array_elements_text($3::json))
         WITH ORDINALITY AS u(path, identity, n)
    WHERE NOT EXISTS (SELECT 1 FROM discovery.ledger l
                      WHERE l.ingestion_id = $1 AND l.path = u.path AND l.identity = u.identity
                        AND l.state = ANY($4::text[]))
    ORDER BY u.n"""
"""The ledger anti-join of :meth:`Ledger.unmatched_identities` (without and with a state filter)."""
_json_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""A list of str as JSON text (non-ASCII as is: a lone surrogate fails to encode, as in a text[])."""


@dataclass(frozen=True)
class RunWork:
    """What a completed run did: the cost model's inputs."""

    bytes_read: int = 0
    duration_seconds: float = 0.0
    spark_seconds: float | None = None
    batches: int = 0


async def _forget(conn: Connection, ingestion_id: str) -> int:
    """Forget the ingestion's ledger and listing position; return how many ledger entries went."""
    status = await conn.execute("DELETE FROM discovery.ledger WHERE ingestion_id = $1", ingestion_id)
    await conn.execute("DELETE FROM discovery.listing_state WHERE ingestion_id = $1", ingestion_id)
    return int(status.split()[-1])


def _error_dict(error: RunError) -> dict[str, Any]:
    return {"error_type": error.error_type, "message": error.message, "file": error.file, "line": error.line}


def file_ref(path: str, size: int, modified_at: datetime, etag: str | None) -> FileRef:
    """Build the contract's FileRef from listing fields."""
    return FileRef(path=path, size=size, modified_at=modified_at, etag=etag)


class ListingState:
    """Where an ingestion's incremental listing resumes, and how many runs since a full listing."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, ingestion_id: str) -> tuple[str | None, int]:
        """Return (last path taken, runs since the last full listing)."""
        row = await self._pool.fetchrow(
            "SELECT last_path, runs_since_full FROM discovery.listing_state WHERE ingestion_id = $1", ingestion_id
        )
        return (row["last_path"], row["runs_since_full"]) if row else (None, 0)

    async def put(self, ingestion_id: str, *, last_path: str | None, full: bool) -> None:
        """Record a finished listing (``last_path`` None keeps the previous one)."""
        await self._pool.execute(
            """INSERT INTO discovery.listing_state (ingestion_id, last_path, runs_since_full)
               VALUES ($1, $2, CASE WHEN $3 THEN 0 ELSE 1 END)
               ON CONFLICT (ingestion_id) DO UPDATE SET
                 last_path = COALESCE($2, discovery.listing_state.last_path),
                 runs_since_full = CASE WHEN $3 THEN 0 ELSE discovery.listing_state.runs_since_full + 1 END""",
            ingestion_id,
            last_path,
            full,
        )


async def record_skipped(
    pool: Pool, *, tenant_id: str, ingestion_id: str, files: list[FileRef], seen_at: datetime
) -> None:
    """Record files as skipped for good (include_existing_files = false); known files stay as they are."""
    await pool.executemany(
        """INSERT INTO discovery.ledger (tenant_id, ingestion_id, path, identity, size, etag, modified_at,
                                         first_seen_at, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'skipped') ON CONFLICT DO NOTHING""",
        [(tenant_id, ingestion_id, f.path, f.identity, f.size, f.etag, f.modified_at, seen_at) for f in files],
    )


@dataclass(frozen=True)
class Baseline:
    """Where an ingestion's activation baseline stands: ``pending``, ``recorded`` or ``failed``."""

    state: str
    error: str | None
    updated_at: datetime


class Baselines:
    """The activation baselines of ingestions with include_existing_files = false."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, ingestion_id: str) -> Baseline | None:
        """The baseline's state; None for an ingestion activated before baselines were tracked."""
        row = await self._pool.fetchrow(
            "SELECT state, error, updated_at FROM discovery.baselines WHERE ingestion_id = $1", ingestion_id
        )
        return Baseline(**dict(row.items())) if row else None

    async def mark(self, *, tenant_id: str, ingestion_id: str, state: str, error: str | None = None) -> None:
        """Set the baseline's state (``pending`` when it starts, then ``recorded`` or ``failed``)."""
        await self._pool.execute(
            """INSERT INTO discovery.baselines (ingestion_id, tenant_id, state, error, updated_at)
               VALUES ($1, $2, $3, $4, now())
               ON CONFLICT (ingestion_id) DO UPDATE SET state = $3, error = $4, updated_at = now()""",
            ingestion_id,
            tenant_id,
            state,
            error,
        )
