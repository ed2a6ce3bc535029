"""Reads from the projector's read models; EVERY query is filtered by the caller's tenant."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autoloader_api.pagination import decode_cursor, encode_cursor
from autoloader_contracts.cost import RunSample
from autoloader_core.errors import FieldError, NotFoundError, ValidationFailed
from autoloader_db.database import Pool, Record

log = logging.getLogger(__name__)

PROJECTION = "read_models"
INGESTION_SORTS = {  # sort parameter -> (column, descending)
    "created_at": ("created_at", False),
    "-created_at": ("created_at", True),
    "name": ("name", False),
    "-name": ("name", True),
}
LISTABLE_STATUSES = ("draft", "active", "paused", "error")
FILE_STATES = ("discovered", "loading", "loaded", "failed", "skipped")
FINISHED_RUN_STATES = ("success", "partial", "failed")
FINISHED_SQL = "(" + ", ".join(f"'{state}'" for state in FINISHED_RUN_STATES) + ")"
"""``FINISHED_RUN_STATES`` as SQL: written out, so the planner can use the partial index of finished runs."""


@dataclass(frozen=True)
class IngestionFilter:
    """Filters, order and page of ``GET /ingestions``."""

    status: str | None = None
    source_type: str | None = None
    q: str | None = None
    sort: str = "-created_at"
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    """Rows of one page and the cursor of the next one (``None`` on the last page)."""

    rows: list[Record]
    next_cursor: str | None


class ReadModels:
    """Tenant-scoped queries on ``read.*``."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def projected_seq(self) -> int:
        """Return the last stream sequence the projector applied (0 before its first event)."""
        seq = await self._pool.fetchval(
            "SELECT last_seq FROM read.checkpoints WHERE projection = $1", PROJECTION
        )
        return int(seq or 0)

    async def wait_projected(self, seq: int, *, timeout: float) -> bool:  # noqa: ASYNC109 - returns False, never raises
        """Poll the checkpoint until the projector applied ``seq``; False after ``timeout`` seconds.

        Commands wait for their own event so a response (and the client's next read) reflects the
        write, although reads come from eventually consistent read models.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.01
        while await self.projected_seq() < seq:
            if loop.time() >= deadline:
                log.warning("read models lag behind the write", extra={"seq": seq})
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return True

    async def find_ingestion(self, tenant_id: str, ingestion_id: str) -> Record | None:
        """Return the live (not deleted) ingestion row, or ``None``."""
        return await self._pool.fetchrow(
            "SELECT * FROM read.ingestions WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted'",
            tenant_id,
            ingestion_id,
        )

    async def ingestion(self, tenant_id: str, ingestion_id: str) -> Record:
        """Return the live ingestion row.

        Raises:
            NotFoundError: No such ingestion for this tenant (or it was deleted).
        """
        row = await self.find_ingestion(tenant_id, ingestion_id)
        if row is None:
            raise NotFoundError(f"ingestion {ingestion_id!r} not found")
        return row

    async def list_ingestions(self, tenant_id: str, query: IngestionFilter) -> Page:
        """Return one page of the tenant's live ingestions."""
        _check_ingestion_filter(query)
        column, descending = INGESTION_SORTS[query.sort]
        where = ["tenant_id = $1", "status <> 'deleted'"]
        args: list[Any] = [tenant_id]
        for name, value in (("status", query.status), ("source_type", query.source_type)):
            if value is not None:
                args.append(value)
                where.append(f"{name} = ${len(args)}")
        if query.q:
            args.append(f"%{_escape_like(query.q)}%")
            where.append(f"name ILIKE ${len(args)} ESCAPE '\\'")
        if query.cursor:
            sort, after, after_id = decode_cursor(query.cursor, size=3)
            if sort != query.sort:
                raise ValidationFailed(
                    [
                        FieldError(
                            "cursor",
                            "this cursor belongs to another sort; pass the same sort as for the first page",
                        )
                    ]
                )
            args += [datetime.fromisoformat(after) if column == "created_at" else after, after_id]
            where.append(f"({column}, id) {'<' if descending else '>'} (${len(args) - 1}, ${len(args)})")
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT * FROM read.ingestions WHERE {' AND '.join(where)} "  # noqa: S608 - whitelisted parts
            f"ORDER BY {column} {direction}, id {direction} LIMIT {query.limit + 1}"
        )
        rows = await self._pool.fetch(sql, *args)
        return _page(rows, query.limit, lambda r: (query.sort, _key(r[column]), r["id"]))

    async def list_runs(
        self, tenant_id: str, ingestion_id: str, *, days: int, limit: int, cursor: str | None, now: datetime
    ) -> Page:
        """Return one page of an ingestion's runs requested in the last ``days`` days, newest first."""
        _check_range("days", days, 1, 3650)
        _check_range("limit", limit, 1, 500)
        args: list[Any] = [tenant_id, ingestion_id, now - timedelta(days=days)]
        where = "tenant_id = $1 AND ingestion_id = $2 AND requested_at >= $3"
        if cursor:
            after, after_id = decode_cursor(cursor, size=2)
            args += [datetime.fromisoformat(after), after_id]
            where += " AND (requested_at, id) < ($4, $5)"
        rows = await self._pool.fetch(
            f"SELECT * FROM read.runs WHERE {where} ORDER BY requested_at DESC, id DESC LIMIT {limit + 1}",  # noqa: S608
            *args,
        )
        return _page(rows, limit, lambda r: (_key(r["requested_at"]), r["id"]))

    async def run(self, tenant_id: str, ingestion_id: str, run_id: str) -> Record:
        """Return one run row.

        Raises:
            NotFoundError: No such run of this ingestion for this tenant.
        """
        row = await self._pool.fetchrow(
            "SELECT * FROM read.runs WHERE tenant_id = $1 AND ingestion_id = $2 AND id = $3",
            tenant_id,
            ingestion_id,
            run_id,
        )
        if row is None:
            raise NotFoundError(f"run {run_id!r} of ingestion {ingestion_id!r} not found")
        return row

    async def list_schema_versions(
        self, tenant_id: str, ingestion_id: str, *, limit: int, cursor: str | None
    ) -> Page:
        """Return one page of an ingestion's schema versions, newest first."""
        _check_range("limit", limit, 1, 500)
        args: list[Any] = [tenant_id, ingestion_id]
        where = "tenant_id = $1 AND ingestion_id = $2"
        if cursor:
            (after,) = decode_cursor(cursor, size=1)
            args.append(int(after))
            where += " AND version < $3"
        rows = await self._pool.fetch(
            f"SELECT * FROM read.schema_versions WHERE {where} ORDER BY version DESC LIMIT {limit + 1}",  # noqa: S608
            *args,
        )
        return _page(rows, limit, lambda r: (r["version"],))

    async def schema_version(self, tenant_id: str, ingestion_id: str, version: int) -> Record:
        """Return one schema version row.

        Raises:
            NotFoundError: No such version of this ingestion for this tenant.
        """
        row = await self._pool.fetchrow(
            "SELECT * FROM read.schema_versions WHERE tenant_id = $1 AND ingestion_id = $2 AND version = $3",
            tenant_id,
            ingestion_id,
            version,
        )
        if row is None:
            raise NotFoundError(f"schema version {version} of ingestion {ingestion_id!r} not found")
        return row

    async def run_files(self, tenant_id: str, run_id: str) -> list[Record]:
        """Return the ledger rows of the files a run took on, by path."""
        return list(
            await self._pool.fetch(
                "SELECT * FROM read.files WHERE tenant_id = $1 AND run_id = $2 ORDER BY path, identity",
                tenant_id,
                run_id,
            )
        )

    async def list_files(
        self, tenant_id: str, ingestion_id: str, *, state: str | None, limit: int, cursor: str | None
    ) -> Page:
        """Return one page of an ingestion's file ledger, most recently seen first."""
        _check_range("limit", limit, 1, 1000)
        if state is not None and state not in FILE_STATES:
            raise ValidationFailed(
                [FieldError("state", f"unknown state {state!r}; use one of {', '.join(FILE_STATES)}")]
            )
        args: list[Any] = [tenant_id, ingestion_id]
        where = "tenant_id = $1 AND ingestion_id = $2"
        if state is not None:
            args.append(state)
            where += f" AND state = ${len(args)}"
        if cursor:
            seen, path, identity = decode_cursor(cursor, size=3)
            args += [datetime.fromisoformat(seen), path, identity]
            n = len(args)
            # Newest first, then path ascending: a mixed-direction keyset condition.
            where += (
                f" AND (first_seen_at < ${n - 2} OR (first_seen_at = ${n - 2}"
                f" AND (path, identity) > (${n - 1}, ${n})))"
            )
        rows = await self._pool.fetch(
            f"SELECT * FROM read.files WHERE {where} "  # noqa: S608 - whitelisted parts
            f"ORDER BY first_seen_at DESC, path, identity LIMIT {limit + 1}",
            *args,
        )
        return _page(rows, limit, lambda r: (_key(r["first_seen_at"]), r["path"], r["identity"]))

    async def list_clusters(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page:
        """Return one page of the tenant's clusters, oldest first."""
        return await self._registry_page("read.clusters", tenant_id, limit=limit, cursor=cursor)

    async def find_cluster(self, tenant_id: str, cluster_id: str) -> Record | None:
        """Return the cluster row, or ``None``."""
        return await self._pool.fetchrow(
            "SELECT * FROM read.clusters WHERE tenant_id = $1 AND id = $2", tenant_id, cluster_id
        )

    async def list_catalogs(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page:
        """Return one page of the tenant's registered catalogs, oldest first."""
        return await self._registry_page("read.catalogs", tenant_id, limit=limit, cursor=cursor)

    async def find_catalog(self, tenant_id: str, catalog_id: str) -> Record | None:
        """Return the catalog row, or ``None``."""
        return await self._pool.fetchrow(
            "SELECT * FROM read.catalogs WHERE tenant_id = $1 AND id = $2", tenant_id, catalog_id
        )

    async def catalog_usage(self, tenant_id: str) -> dict[str, int]:
        """Return catalog name -> live ingestions whose destination names it (registered or not)."""
        rows = await self._pool.fetch(
            """SELECT COALESCE(config->'destination'->>'catalog', 'lake') AS catalog, count(*) AS n FROM read.ingestions
               WHERE tenant_id = $1 AND status <> 'deleted' GROUP BY 1""",
            tenant_id,
        )
        return {row["catalog"]: int(row["n"]) for row in rows}

    async def _registry_page(self, table: str, tenant_id: str, *, limit: int, cursor: str | None) -> Page:
        _check_range("limit", limit, 1, 200)
        args: list[Any] = [tenant_id]
        where = "tenant_id = $1"
        if cursor:
            after, after_id = decode_cursor(cursor, size=2)
            args += [datetime.fromisoformat(after), after_id]
            where += " AND (created_at, id) > ($2, $3)"
        rows = await self._pool.fetch(
            f"SELECT * FROM {table} WHERE {where} ORDER BY created_at, id LIMIT {limit + 1}",  # noqa: S608 (fixed table names)
            *args,
        )
        return _page(rows, limit, lambda r: (_key(r["created_at"]), r["id"]))

    async def active_run(self, tenant_id: str, ingestion_id: str) -> Record | None:
        """The ingestion's queued or running run, if any."""
        return await self._pool.fetchrow(
            """SELECT * FROM read.runs WHERE tenant_id = $1 AND ingestion_id = $2 AND status IN ('queued', 'running')
               ORDER BY requested_at DESC LIMIT 1""",
            tenant_id,
            ingestion_id,
        )

    async def active_runs(self, tenant_id: str, ingestion_ids: list[str]) -> dict[str, Record]:
        """The newest queued or running run of each of ``ingestion_ids`` that has one."""
        rows = await self._pool.fetch(
            """SELECT DISTINCT ON (ingestion_id) * FROM read.runs
               WHERE tenant_id = $1 AND ingestion_id = ANY($2::text[]) AND status IN ('queued', 'running')
               ORDER BY ingestion_id, requested_at DESC""",
            tenant_id,
            ingestion_ids,
        )
        return {row["ingestion_id"]: row for row in rows}

    async def recent_run_averages(
        self, tenant_id: str, ingestion_ids: list[str], *, limit: int
    ) -> dict[str, dict[str, float]]:
        """Ingestion id -> average ``bytes``, ``files`` and ``listed`` of its last ``limit`` finished runs."""
        rows = await self._pool.fetch(
            f"""SELECT i.id, avg(COALESCE(r.bytes_read, 0)) AS bytes, avg(COALESCE(r.files_processed, 0)) AS files,
                       avg(COALESCE(r.files_listed, 0)) AS listed
                FROM unnest($2::text[]) AS i(id)
                CROSS JOIN LATERAL (SELECT bytes_read, files_processed, files_listed FROM read.runs
                                    WHERE tenant_id = $1 AND ingestion_id = i.id AND status IN {FINISHED_SQL}
                                    ORDER BY requested_at DESC LIMIT $3) r
                GROUP BY i.id""",  # noqa: S608 - a constant
            tenant_id,
            ingestion_ids,
            limit,
        )
        return {r["id"]: {name: float(r[name]) for name in ("bytes", "files", "listed")} for r in rows}

    async def cost_histories(
        self, tenant_id: str, ingestion_ids: list[str], *, limit: int
    ) -> dict[str, tuple[dict[str, float], RunNumbers]]:
        """:meth:`recent_run_averages` and :meth:`run_numbers_of` of a page in one statement (one round trip).

        Only ingestions with a finished run are in the answer, as in :meth:`recent_run_averages`.
        """
        rows = await self._pool.fetch(
            f"""SELECT i.id, a.bytes, a.files, a.listed, h.bytes_read, h.duration_seconds, h.spark_seconds, h.batches
                FROM unnest($2::text[]) AS i(id)
                CROSS JOIN LATERAL (
                    SELECT count(*) AS n, avg(COALESCE(bytes_read, 0)) AS bytes,
                           avg(COALESCE(files_processed, 0)) AS files, avg(COALESCE(files_listed, 0)) AS listed
                    FROM (SELECT bytes_read, files_processed, files_listed FROM read.runs
                          WHERE tenant_id = $1 AND ingestion_id = i.id AND status IN {FINISHED_SQL}
                          ORDER BY requested_at DESC LIMIT $3) finished) a
                CROSS JOIN LATERAL (
                    SELECT array_agg(bytes_read ORDER BY requested_at DESC) AS bytes_read,
                           array_agg(duration_seconds ORDER BY requested_at DESC) AS duration_seconds,
                           array_agg(spark_seconds ORDER BY requested_at DESC) AS spark_seconds,
                           array_agg(batches ORDER BY requested_at DESC) AS batches
                    FROM (SELECT bytes_read, duration_seconds, spark_seconds, batches, requested_at FROM read.runs
                          WHERE tenant_id = $1 AND ingestion_id = i.id AND status IN {FINISHED_SQL}
                            AND COALESCE(bytes_read, 0) > 0
                          ORDER BY requested_at DESC LIMIT $3) loaded) h
                WHERE a.n > 0""",  # noqa: S608 - a constant
            tenant_id,
            list(dict.fromkeys(ingestion_ids)),
            limit,
        )
        return {
            row["id"]: (
                {name: float(row[name]) for name in ("bytes", "files", "listed")},
                tuple(
                    zip(
                        row["bytes_read"] or (),
                        row["duration_seconds"] or (),
                        row["spark_seconds"] or (),
                        row["batches"] or (),
                        strict=True,
                    )
                ),
            )
            for row in rows
        }

    async def rows_per_byte(self, tenant_id: str, ingestion_id: str) -> float | None:
        """Rows per byte read over the ingestion's finished runs (None before one loaded data)."""
        value = await self._pool.fetchval(
            f"""SELECT sum(records_ingested::float8) / NULLIF(sum(bytes_read::float8), 0)
                FROM read.runs WHERE tenant_id = $1 AND ingestion_id = $2 AND status IN {FINISHED_SQL}""",  # noqa: S608
            tenant_id,
            ingestion_id,
        )
        return float(value) if value is not None else None

    async def run_samples(self, tenant_id: str, ingestion_id: str, *, limit: int) -> list[RunSample]:
        """What the ingestion's last ``limit`` runs that loaded data did (the cost model's history)."""
        return (await self.run_samples_of(tenant_id, [ingestion_id], limit=limit)).get(ingestion_id, [])

    async def run_samples_of(
        self, tenant_id: str, ingestion_ids: list[str], *, limit: int
    ) -> dict[str, list[RunSample]]:
        """Ingestion id -> :meth:`run_samples` of each (one query for a page of ingestions; newest first)."""
        found = await self.run_numbers_of(tenant_id, ingestion_ids, limit=limit)
        return {ingestion_id: samples_from(numbers) for ingestion_id, numbers in found.items()}

    async def run_numbers_of(self, tenant_id: str, ingestion_ids: list[str], *, limit: int) -> dict[str, RunNumbers]:
        """:meth:`run_samples_of` as plain tuples ``(bytes_read, duration, spark_seconds, batches)``, hashable.

        A page's cost model keys its memo on them and builds samples (:func:`samples_from`) only on a miss.
        """
        rows = await self._pool.fetch(
            # One row per ingestion, its runs' numbers in arrays (newest first): 50 rows, not 1,000 records.
            f"""SELECT i.id, array_agg(r.bytes_read ORDER BY r.requested_at DESC) AS bytes_read,
                       array_agg(r.duration_seconds ORDER BY r.requested_at DESC) AS duration_seconds,
                       array_agg(r.spark_seconds ORDER BY r.requested_at DESC) AS spark_seconds,
                       array_agg(r.batches ORDER BY r.requested_at DESC) AS batches
                FROM unnest($2::text[]) AS i(id)
                CROSS JOIN LATERAL (SELECT bytes_read, duration_seconds, spark_seconds, batches, requested_at
                                    FROM read.runs
                                    WHERE tenant_id = $1 AND ingestion_id = i.id AND status IN {FINISHED_SQL}
                                      AND COALESCE(bytes_read, 0) > 0
                                    ORDER BY requested_at DESC LIMIT $3) r
                GROUP BY i.id""",  # noqa: S608 - a constant
            tenant_id,
            list(dict.fromkeys(ingestion_ids)),
            limit,
        )
        return {
            row["id"]: tuple(
                zip(row["bytes_read"], row["duration_seconds"], row["spark_seconds"], row["batches"], strict=True)
            )
            for row in rows
        }

    async def cluster_usage(self, tenant_id: str, *, default_cluster_id: str) -> dict[str, int]:
        """Return cluster id -> live ingestions loading on it (no ``cluster_id`` means the default one)."""
        rows = await self._pool.fetch(
            """SELECT COALESCE(config->>'cluster_id', $2) AS cluster_id, count(*) AS n FROM read.ingestions
               WHERE tenant_id = $1 AND status <> 'deleted' GROUP BY 1""",
            tenant_id,
            default_cluster_id,
        )
        return {row["cluster_id"]: int(row["n"]) for row in rows}


RunNumbers = tuple[tuple[int | None, float | None, float | None, int | None], ...]
"""A history of runs as :meth:`ReadModels.run_numbers_of` returns it (newest first)."""


def samples_from(numbers: RunNumbers) -> list[RunSample]:
    """The cost model's samples of a history of run numbers."""
    return [_run_sample(*run) for run in numbers]


def _run_sample(bytes_read: int | None, duration: float | None, spark: float | None, batches: int | None) -> RunSample:
    """A run's numbers (generated columns of its metrics, migration 0012) as the cost model's sample."""
    return RunSample(
        bytes_read=int(bytes_read or 0),
        duration_seconds=float(duration or 0.0),
        spark_seconds=float(spark or 0.0) or None,
        batches=int(batches or 0),
    )


def _page(rows: list[Record], limit: int, key: Any) -> Page:
    if len(rows) <= limit:
        return Page(rows=list(rows), next_cursor=None)
    return Page(rows=list(rows[:limit]), next_cursor=encode_cursor(*key(rows[limit - 1])))


def _key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationFailed([FieldError(name, f"{name} must be between {low} and {high}, got {value}")])


def _check_ingestion_filter(query: IngestionFilter) -> None:
    errors = []
    if query.sort not in INGESTION_SORTS:
        errors.append(
            FieldError("sort", f"unknown sort {query.sort!r}; use one of {', '.join(INGESTION_SORTS)}")
        )
    if query.status is not None and query.status not in LISTABLE_STATUSES:
        errors.append(
            FieldError(
                "status", f"unknown status {query.status!r}; use one of {', '.join(LISTABLE_STATUSES)}"
            )
        )
    if not 1 <= query.limit <= 200:
        errors.append(FieldError("limit", f"limit must be between 1 and 200, got {query.limit}"))
    if errors:
        raise ValidationFailed(errors)
