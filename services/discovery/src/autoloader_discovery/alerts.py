"""Alerts as events: raise an ``alert.raised`` when a condition starts and ``alert.cleared`` when it ends.

Discovery sees every run's outcome, so it evaluates the rules of :mod:`.alert_rules` when a run
completes, when a schema change waits for (or gets) a resolution, and, for ``no_new_files``,
periodically. Which alerts are active lives in ``discovery.alerts``. Appends come first, then the
row: every event id is derived from the alert and its cause, so a redelivered cause re-appends
the same event (deduplicated by JetStream) and then records the same row.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import QualitySpec
from autoloader_contracts.ingestion_state import fold
from autoloader_core.clock import Clock
from autoloader_core.ids import deterministic_id
from autoloader_db.database import Pool
from autoloader_discovery.alert_rules import Verdict, no_new_files, run_verdicts

log = logging.getLogger(__name__)

ACTOR = "service:discovery"
CHECK_SECONDS = 5.0
"""How often (real seconds) the ``no_new_files`` condition is checked between runs."""
BACKLOG_KEPT = 10


class AlertBook:
    """SQL of ``discovery.alerts`` (active alerts) and ``discovery.alert_watch`` (what rules look at)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def active(self, ingestion_id: str, kind: str) -> str | None:
        """The id of the active alert of ``kind``, if any."""
        value = await self._pool.fetchval(
            "SELECT alert_id FROM discovery.alerts WHERE ingestion_id = $1 AND kind = $2", ingestion_id, kind
        )
        return str(value) if value else None

    async def activate(self, *, tenant_id: str, ingestion_id: str, kind: str, alert_id: str, at: datetime) -> None:
        """Record the alert as active (idempotent)."""
        await self._pool.execute(
            """INSERT INTO discovery.alerts (ingestion_id, kind, tenant_id, alert_id, raised_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            ingestion_id,
            kind,
            tenant_id,
            alert_id,
            at,
        )

    async def deactivate(self, ingestion_id: str, kind: str) -> None:
        """Forget the active alert of ``kind``."""
        await self._pool.execute(
            "DELETE FROM discovery.alerts WHERE ingestion_id = $1 AND kind = $2", ingestion_id, kind
        )

    async def watch(self, ingestion_id: str) -> tuple[datetime | None, list[int]]:
        """(last time files were loaded, earlier runs' backlogs oldest first) of the ingestion."""
        row = await self._pool.fetchrow(
            "SELECT last_files_at, backlog_history FROM discovery.alert_watch WHERE ingestion_id = $1", ingestion_id
        )
        return (row["last_files_at"], list(row["backlog_history"])) if row else (None, [])

    async def record_watch(
        self, *, tenant_id: str, ingestion_id: str, last_files_at: datetime, hours: int | None, backlog: list[int]
    ) -> None:
        """Store what the rules look at next time."""
        await self._pool.execute(
            """INSERT INTO discovery.alert_watch
                      (ingestion_id, tenant_id, last_files_at, no_files_hours, backlog_history)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (ingestion_id) DO UPDATE SET last_files_at = EXCLUDED.last_files_at,
                   no_files_hours = EXCLUDED.no_files_hours, backlog_history = EXCLUDED.backlog_history""",
            ingestion_id,
            tenant_id,
            last_files_at,
            hours,
            backlog[-BACKLOG_KEPT:],
        )

    async def overdue(self, now: datetime) -> list[tuple[str, str, datetime]]:
        """(tenant, ingestion, last files time) of watched ingestions past their hours without an alert."""
        # The cast matters: untyped, $1 - interval makes PostgreSQL infer $1 as an interval.
        rows = await self._pool.fetch(
            """SELECT w.tenant_id, w.ingestion_id, w.last_files_at FROM discovery.alert_watch w
               WHERE w.no_files_hours IS NOT NULL
                 AND w.last_files_at < $1::timestamptz - make_interval(hours => w.no_files_hours)
                 AND NOT EXISTS (SELECT 1 FROM discovery.alerts a
                                 WHERE a.ingestion_id = w.ingestion_id AND a.kind = 'no_new_files')
               LIMIT 500""",
            now,
        )
        return [(r["tenant_id"], r["ingestion_id"], r["last_files_at"]) for r in rows]


class AlertMonitor:
    """Evaluates the alert rules and appends the resulting events."""

    def __init__(self, *, store: EventStore, book: AlertBook, clock: Clock) -> None:
        self._store = store
        self._book = book
        self._clock = clock

    async def on_run_completed(self, completed: ev.RunCompleted, quality: QualitySpec) -> None:
        """Apply the run rules to a finished run and remember what the next evaluation needs."""
        last_files_at, backlog = await self._book.watch(completed.ingestion_id)
        last_files_at = last_files_at or completed.started_at
        for verdict in run_verdicts(completed, quality, backlog_before=backlog, last_files_at=last_files_at):
            await self._apply(
                verdict, tenant_id=completed.tenant_id, ingestion_id=completed.ingestion_id, cause=completed
            )
        if completed.metrics.files_processed > 0:
            last_files_at = completed.occurred_at
        await self._book.record_watch(
            tenant_id=completed.tenant_id,
            ingestion_id=completed.ingestion_id,
            last_files_at=last_files_at,
            hours=quality.no_files_alert_hours,
            backlog=[*backlog, completed.metrics.backlog_files],
        )

    async def on_activated(self, event: ev.IngestionEvent, quality: QualitySpec) -> None:
        """Start watching an activated ingestion: "no new files" counts from now on."""
        last, backlog = await self._book.watch(event.aggregate_id)
        await self._book.record_watch(
            tenant_id=event.tenant_id,
            ingestion_id=event.aggregate_id,
            last_files_at=last or event.occurred_at,
            hours=quality.no_files_alert_hours,
            backlog=backlog,
        )

    async def on_schema_change(self, event: ev.SchemaChangeDetected | ev.SchemaChangeResolved) -> None:
        """A pending schema change raises ``schema_change_pending``; its resolution clears it."""
        if isinstance(event, ev.SchemaChangeDetected):
            if event.resolution != "pending":
                return
            message = f"schema version {event.version} waits for a resolution ({_columns(event.diff)})"
            verdict = Verdict("schema_change_pending", True, message, {"version": str(event.version)})
        else:
            verdict = Verdict(
                "schema_change_pending", False, f"schema version {event.version} was resolved: {event.action}"
            )
        await self._apply(verdict, tenant_id=event.tenant_id, ingestion_id=event.aggregate_id, cause=event)

    async def check_no_files(self) -> int:
        """Raise ``no_new_files`` for every active ingestion past its hours; return how many were raised."""
        now = self._clock.now()
        raised = 0
        for tenant_id, ingestion_id, last_files_at in await self._book.overdue(now):
            state = fold((s.seq, s.event) for s in await self._store.read(tenant_id, "ingestion", ingestion_id))
            if state is None or state.status != "active":
                continue
            verdict = no_new_files(state.config.quality, last_files_at=last_files_at, now=now)
            if verdict is not None and verdict.holds:
                cause = deterministic_id("nof", ingestion_id, last_files_at.isoformat())
                await self._apply(verdict, tenant_id=tenant_id, ingestion_id=ingestion_id, cause_id=cause, at=now)
                raised += 1
        return raised

    async def watch_forever(self, stop: asyncio.Event) -> None:
        """Check ``no_new_files`` every :data:`CHECK_SECONDS` until ``stop`` is set (errors are logged, not fatal)."""
        while not stop.is_set():
            try:
                await self.check_no_files()
            except Exception:
                log.warning("no-new-files check failed; trying again later", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), CHECK_SECONDS)
            except TimeoutError:
                continue

    async def _apply(
        self,
        verdict: Verdict,
        *,
        tenant_id: str,
        ingestion_id: str,
        cause: ev.Event | None = None,
        cause_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Raise the verdict's alert if it holds and none is active, or clear the active one if it does not."""
        active = await self._book.active(ingestion_id, verdict.kind)
        if verdict.holds == (active is not None):
            return  # raised already, or nothing to clear
        cause_id = cause.event_id if cause is not None else cause_id or ""
        at = cause.occurred_at if cause is not None else at or self._clock.now()
        alert_id = active or deterministic_id("alr", ingestion_id, verdict.kind, cause_id)
        common: dict[str, Any] = {
            "occurred_at": at,
            "tenant_id": tenant_id,
            "aggregate_id": alert_id,
            "actor": ACTOR,
            "correlation_id": cause.correlation_id if cause is not None else cause_id,
            "causation_id": cause_id,
            "ingestion_id": ingestion_id,
            "kind": verdict.kind,
        }
        if verdict.holds:
            await self._store.append(
                ev.AlertRaised(
                    event_id=deterministic_id("evt", alert_id, "raised"),
                    message=verdict.message,
                    details=verdict.details,
                    **common,
                )
            )
            await self._book.activate(
                tenant_id=tenant_id, ingestion_id=ingestion_id, kind=verdict.kind, alert_id=alert_id, at=at
            )
        else:
            await self._store.append(
                ev.AlertCleared(event_id=deterministic_id("evt", alert_id, "cleared"), reason=verdict.message, **common)
            )
            await self._book.deactivate(ingestion_id, verdict.kind)
        log.info(
            "alert " + ("raised" if verdict.holds else "cleared"),
            extra={"ingestion_id": ingestion_id, "kind": verdict.kind},
        )


def _columns(diff: ev.SchemaChange) -> str:
    parts = (
        [f"+{c.name}" for c in diff.added] + [f"-{c.name}" for c in diff.removed] + [f"~{c.name}" for c in diff.changed]
    )
    return ", ".join(parts) or "no column changes"
