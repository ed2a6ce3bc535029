"""Set-based fill of the API's read models (``read.*``) for one tenant, for bench/api_reads_at_scale.py.

Every table is filled by one ``INSERT ... SELECT`` over ``generate_series`` (or over the runs just
inserted), so a million runs take seconds, not hours. The rows follow what the projector writes
(services/projector/src/autoloader_projector/projections.py): run metrics and costs in the
``RunCompleted`` shape, daily roll-ups summed from the runs, the ledger's files tied to runs,
the audit trail with two events per run.

Shape of one tenant:

- ingestions: 70 % active, 15 % paused, 5 % error, 5 % deleted, 5 % draft; four source types;
  created 180..90 days before ``now``;
- runs: spread evenly over ``days`` days up to ``now``; the ingestion drawn with a square law, so
  ingestion 0 is the busiest (about ``sqrt(1 / ingestions)`` of all runs) and most have a few
  hundred; 80 % success, 5 % partial, 7 % failed, 8 % skipped, the last minutes queued/running;
  1..51 files (mostly few), 0.4..3.4 MB a file, 2..242 s;
- files: about ``files`` ledger rows, every file of every k-th finished run (so over all days),
  plus 2 % skipped files that belong to no run;
- alerts: three cleared episodes per ingestion, active ones on 1 in 10 ingestions;
- schema versions: three on every tenth ingestion; clusters: the embedded one and two Spark ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from autoloader_contracts.ingestion import (
    DestinationSpec,
    FormatSpec,
    IngestionConfig,
    QualitySpec,
    ScheduleSpec,
    SourceSpec,
)
from autoloader_db.database import Connection

FINISHED = "('success', 'partial', 'failed')"


@dataclass(frozen=True)
class TenantSpec:
    """The size of one tenant and the prefix of its ids.

    Attributes:
        tenant_id: The tenant's id.
        key: Short name inside its row ids (``small`` / ``big``).
        ingestions: Ingestions (live and deleted).
        runs: Runs over ``days`` days.
        files: Approximate ledger rows.
        days: Days the runs span, ending at ``now``.
        seq_base: First stream sequence of its audit trail (keeps tenants' ``seq`` apart).
    """

    tenant_id: str
    key: str
    ingestions: int
    runs: int
    files: int
    days: int = 90
    seq_base: int = 0

    def ingestion_id(self, index: int) -> str:
        """Id of the ingestion number ``index`` (0 is the busiest)."""
        return f"ing_{self.key}_{index:06d}"

    @property
    def ingestion_prefix(self) -> str:
        """What every ingestion id of the tenant starts with."""
        return f"ing_{self.key}_"

    @property
    def run_prefix(self) -> str:
        """What every run id of the tenant starts with (followed by a 9-digit number)."""
        return f"run_{self.key}_"


def config_templates() -> list[dict[str, Any]]:
    """Four valid stored configurations (the JSON the projector keeps), one per source type."""
    hourly = ScheduleSpec(frequency="hourly", time="00:15")
    daily = ScheduleSpec(frequency="daily", time="02:30", timezone="Europe/Paris")
    sources = [
        (SourceSpec(type="s3", path="s3://landing/orders", file_pattern="**/*.csv"), "csv", hourly),
        (SourceSpec(type="azure_blob", path="az://landing/clicks", file_pattern="**/*.json"), "json", hourly),
        (SourceSpec(type="gcs", path="gs://landing/invoices", file_pattern="**/*.parquet"), "parquet", daily),
        (SourceSpec(type="local", path="/data/landing/sensors", file_pattern="*.csv"), "csv", daily),
    ]
    return [
        msgspec.to_builtins(
            IngestionConfig(
                name="template",
                source=source,
                format=FormatSpec(type=fmt),
                destination=DestinationSpec(database="bench", table="template"),
                schedule=schedule,
                quality=QualitySpec(),
            )
        )
        for source, fmt, schedule in sources
    ]


async def seed_tenant(conn: Connection, spec: TenantSpec, now: datetime) -> dict[str, int]:
    """Fill every read model of ``spec``'s tenant; return the rows inserted per table (``random()`` seeded)."""
    await conn.execute("SELECT setseed(0.42)")
    counts = {
        "ingestions": await _ingestions(conn, spec, now),
        "runs": await _runs(conn, spec, now),
    }
    await _last_runs(conn, spec)
    counts["files"] = await _files(conn, spec)
    counts["daily_run_stats"] = await _daily_stats(conn, spec)
    counts["ingestion_events"] = await _events(conn, spec)
    counts["alerts"] = await _alerts(conn, spec, now)
    counts["schema_versions"] = await _schema_versions(conn, spec, now)
    counts["clusters"] = await _clusters(conn, spec, now)
    return counts


def _inserted(status: str) -> int:
    return int(status.rsplit(" ", 1)[1])


async def _ingestions(conn: Connection, spec: TenantSpec, now: datetime) -> int:
    status = await conn.execute(
        """INSERT INTO read.ingestions (id, tenant_id, name, status, source_type, config, version, created_by,
                                        created_at, updated_at, backlog_files, schema_version)
           SELECT $2 || lpad(i::text, 6, '0'), $1, name,
                  CASE WHEN i % 20 < 14 THEN 'active' WHEN i % 20 < 17 THEN 'paused'
                       WHEN i % 20 = 17 THEN 'error' WHEN i % 20 = 18 THEN 'deleted' ELSE 'draft' END,
                  t->'source'->>'type',
                  jsonb_set(jsonb_set(t, '{name}', to_jsonb(name)), '{destination,table}', to_jsonb('t_' || i)),
                  i + 1, 'key:key_bench', created, created + (random() * interval '80 days'),
                  CASE WHEN i % 7 = 0 THEN (random() * 40)::int ELSE 0 END,
                  CASE WHEN i % 10 = 0 THEN 3 END
           FROM (SELECT i, $4::jsonb -> (i % jsonb_array_length($4::jsonb)) AS t,
                        (ARRAY['orders', 'clicks', 'invoices', 'sensors', 'payments'])[1 + i % 5] || ' feed ' || i
                          AS name,
                        $5::timestamptz - interval '180 days' + (i::float8 / $3) * interval '90 days' AS created
                 FROM generate_series(0, $3::int - 1) AS i) AS g""",
        spec.tenant_id,
        spec.ingestion_prefix,
        spec.ingestions,
        config_templates(),  # the pool encodes jsonb
        now,
    )
    return _inserted(status)


_RUNS = f"""
WITH g AS MATERIALIZED (
    SELECT n, random() AS r_ing, random() AS r_status, random() AS r_size, random() AS r_dur
    FROM generate_series(1, $3::int) AS n
), shaped AS (
    SELECT n, floor($4::int * power(r_ing, 2))::int AS ing0,
           $5::timestamptz - make_interval(secs => $6::int * 86400.0 * (1 - n::float8 / $3)) AS requested_at,
           r_status, r_size, r_dur
    FROM g
), classified AS (
    SELECT n, CASE WHEN ing0 % 20 = 19 THEN ing0 - 1 ELSE ing0 END AS ing, requested_at, r_size, r_dur,
           CASE WHEN requested_at > $5::timestamptz - interval '3 minutes'
                     THEN CASE WHEN r_status < 0.5 THEN 'running' ELSE 'queued' END
                WHEN r_status < 0.80 THEN 'success' WHEN r_status < 0.85 THEN 'partial'
                WHEN r_status < 0.92 THEN 'failed' ELSE 'skipped' END AS status,
           1 + floor(50 * power(r_size, 3))::int AS files,
           round((2 + 240 * power(r_dur, 4))::numeric, 3)::float8 AS duration
    FROM shaped
), measured AS (
    SELECT *, CASE status WHEN 'partial' THEN greatest(1, files / 10) WHEN 'failed' THEN files ELSE 0 END AS failed,
           (files * (400000 + 3000000 * r_size))::bigint AS bytes
    FROM classified
)
INSERT INTO read.runs (id, tenant_id, ingestion_id, status, trigger, scheduled_for, requested_at, started_at,
                       ended_at, skip_reason, metrics, errors, snapshot_ids, requested_by, cost)
SELECT $2 || lpad(n::text, 9, '0'), $1, $7 || lpad(ing::text, 6, '0'), status,
       CASE WHEN n % 10 = 0 THEN 'manual' ELSE 'scheduled' END,
       CASE WHEN n % 10 <> 0 THEN date_trunc('minute', requested_at) END,
       requested_at,
       CASE WHEN status <> 'queued' THEN requested_at + interval '1 second' END,
       CASE WHEN status = 'skipped' THEN requested_at + interval '1 second'
            WHEN status IN {FINISHED} THEN requested_at + interval '1 second' + make_interval(secs => duration) END,
       CASE WHEN status = 'skipped' THEN 'another run of the ingestion is active' END,
       CASE WHEN status IN {FINISHED} THEN jsonb_build_object(
                'files_discovered', files, 'files_processed', files - failed, 'files_failed', failed,
                'files_skipped', 0, 'records_ingested', (bytes - bytes * failed / files) / 120,
                'records_rejected', CASE WHEN status = 'partial' THEN 17 ELSE 0 END,
                'bytes_read', CASE WHEN status = 'failed' THEN bytes / 2 ELSE bytes END,
                'duration_seconds', duration, 'error_count', failed, 'backlog_files', 0,
                'spark_seconds', 0, 'files_listed', files + 250, 'batches', 1 + files / 100)
            ELSE '{{}}'::jsonb END,
       CASE WHEN failed > 0 THEN jsonb_build_array(jsonb_build_object(
                'error_type', 'SourceError', 'message', 'connection reset while reading the file',
                'file', 'landing/part-001.csv', 'line', NULL))
            ELSE '[]'::jsonb END,
       CASE WHEN status IN ('success', 'partial') THEN jsonb_build_array(4000000000 + n) ELSE '[]'::jsonb END,
       CASE WHEN n % 10 = 0 THEN 'key:key_bench' ELSE 'service:scheduler' END,
       CASE WHEN status IN {FINISHED} THEN jsonb_build_object(
                'estimated', round((duration * 0.00011 * (0.8 + 0.4 * r_dur))::numeric, 6),
                'actual', round((duration * 0.00011)::numeric, 6), 'currency', 'USD') END
FROM measured"""  # noqa: S608 - constants only


async def _runs(conn: Connection, spec: TenantSpec, now: datetime) -> int:
    status = await conn.execute(
        _RUNS,
        spec.tenant_id,
        spec.run_prefix,
        spec.runs,
        spec.ingestions,
        now,
        spec.days,
        spec.ingestion_prefix,
    )
    return _inserted(status)


async def _last_runs(conn: Connection, spec: TenantSpec) -> None:
    await conn.execute(
        f"""UPDATE read.ingestions i SET last_run_id = r.id, last_run_status = r.status, last_run_time = r.ended_at
            FROM (SELECT DISTINCT ON (ingestion_id) ingestion_id, id, status, ended_at FROM read.runs
                  WHERE tenant_id = $1 AND status IN {FINISHED}
                  ORDER BY ingestion_id, ended_at DESC) AS r
            WHERE i.tenant_id = $1 AND i.id = r.ingestion_id""",  # noqa: S608 - constant
        spec.tenant_id,
    )


async def _files(conn: Connection, spec: TenantSpec) -> int:
    # Runs have 13.5 files on average and 92 % finish: every ``stride``-th run gives about ``files`` rows.
    stride = max(1, round(spec.runs * 0.92 * 13.5 / max(1, spec.files)))
    loaded = await conn.execute(
        f"""INSERT INTO read.files (tenant_id, ingestion_id, path, identity, size, etag, modified_at, first_seen_at,
                                    run_id, batch_id, state, rows, snapshot_id, error, updated_at)
            SELECT r.tenant_id, r.ingestion_id, path, md5(path), size, md5(path || 'etag'),
                   r.requested_at - interval '5 minutes', r.requested_at + interval '2 seconds', r.id,
                   'bat_' || right(r.id, 9) || '_' || (1 + (k - 1) / 100),
                   CASE WHEN k <= r.failed THEN 'failed' ELSE 'loaded' END,
                   CASE WHEN k > r.failed THEN size / 120 END,
                   CASE WHEN k > r.failed THEN 4000000000 + right(r.id, 9)::bigint END,
                   CASE WHEN k <= r.failed THEN 'connection reset while reading the file' END, r.ended_at
            FROM (SELECT id, tenant_id, ingestion_id, requested_at, ended_at,
                         (metrics->>'files_discovered')::int AS files, (metrics->>'files_failed')::int AS failed
                  FROM read.runs WHERE tenant_id = $1 AND status IN {FINISHED} AND right(id, 9)::int % $2 = 0) AS r
            CROSS JOIN LATERAL generate_series(1, r.files) AS k
            CROSS JOIN LATERAL (SELECT 'landing/' || to_char(r.requested_at, 'YYYY/MM/DD/HH24') || '/' || r.id
                                       || '-part-' || lpad(k::text, 3, '0') || '.csv' AS path,
                                       (400000 + (hashint4(k) & 4194303))::bigint AS size) AS f""",  # noqa: S608
        spec.tenant_id,
        stride,
    )
    skipped = await conn.execute(
        """INSERT INTO read.files (tenant_id, ingestion_id, path, identity, size, etag, modified_at, first_seen_at,
                                   state, error, updated_at)
           SELECT $1, $2 || lpad((n % $3)::text, 6, '0'), 'landing/_tmp/skipped-' || n || '.tmp', md5(n::text), 12,
                  NULL, now() - n * interval '1 minute', now() - n * interval '1 minute', 'skipped',
                  'does not match the file pattern', now() - n * interval '1 minute'
           FROM generate_series(1, $4::int) AS n""",
        spec.tenant_id,
        spec.ingestion_prefix,
        spec.ingestions,
        max(1, spec.files // 50),
    )
    return _inserted(loaded) + _inserted(skipped)


async def _daily_stats(conn: Connection, spec: TenantSpec) -> int:
    status = await conn.execute(
        """INSERT INTO read.daily_run_stats (tenant_id, ingestion_id, day, runs, success, partial, failed, skipped,
                                             files, files_failed, rows, bytes, duration_sum, cost_actual,
                                             cost_estimated)
           SELECT tenant_id, ingestion_id, (ended_at AT TIME ZONE 'UTC')::date, count(*),
                  count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'partial'),
                  count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped'),
                  COALESCE(sum((metrics->>'files_processed')::bigint), 0),
                  COALESCE(sum((metrics->>'files_failed')::bigint), 0),
                  COALESCE(sum((metrics->>'records_ingested')::bigint), 0),
                  COALESCE(sum((metrics->>'bytes_read')::bigint), 0),
                  COALESCE(sum((metrics->>'duration_seconds')::float8), 0),
                  COALESCE(sum((cost->>'actual')::float8), 0), COALESCE(sum((cost->>'estimated')::float8), 0)
           FROM read.runs WHERE tenant_id = $1 AND ended_at IS NOT NULL
           GROUP BY tenant_id, ingestion_id, (ended_at AT TIME ZONE 'UTC')::date""",
        spec.tenant_id,
    )
    return _inserted(status)


async def _events(conn: Connection, spec: TenantSpec) -> int:
    created = await conn.execute(
        """INSERT INTO read.ingestion_events (seq, tenant_id, ingestion_id, type, occurred_at, actor, aggregate,
                                              aggregate_id, correlation_id, causation_id, data)
           SELECT $2::bigint + row_number() OVER (ORDER BY created_at, id), tenant_id, id, 'ingestion.created.v1',
                  created_at, created_by, 'ingestion', id, 'cor_' || id, NULL,
                  jsonb_build_object('config', config, 'status', 'draft')
           FROM read.ingestions WHERE tenant_id = $1""",
        spec.tenant_id,
        spec.seq_base,
    )
    runs = await conn.execute(
        """INSERT INTO read.ingestion_events (seq, tenant_id, ingestion_id, type, occurred_at, actor, aggregate,
                                              aggregate_id, correlation_id, causation_id, data)
           SELECT $2::bigint + $3::int + 2 * right(r.id, 9)::bigint + e.k, r.tenant_id, r.ingestion_id, e.type,
                  e.at, e.actor, 'run', r.id, 'cor_' || r.id, e.causation, e.data
           FROM read.runs r CROSS JOIN LATERAL (VALUES
               (0, 'run.requested.v1', r.requested_at, r.requested_by, NULL,
                jsonb_build_object('ingestion_id', r.ingestion_id, 'trigger', r.trigger,
                                   'scheduled_for', r.scheduled_for, 'operation', NULL)),
               (1, CASE WHEN r.status = 'skipped' THEN 'run.skipped.v1' ELSE 'run.completed.v1' END, r.ended_at,
                'service:discovery', 'evt_req_' || r.id,
                CASE WHEN r.status = 'skipped' THEN jsonb_build_object('ingestion_id', r.ingestion_id,
                                                                      'reason', r.skip_reason)
                     ELSE jsonb_build_object('ingestion_id', r.ingestion_id, 'status', r.status,
                                             'started_at', r.started_at, 'metrics', r.metrics, 'errors', r.errors,
                                             'snapshot_ids', r.snapshot_ids, 'cost', r.cost) END)
           ) AS e(k, type, at, actor, causation, data)
           WHERE r.tenant_id = $1 AND e.at IS NOT NULL""",
        spec.tenant_id,
        spec.seq_base,
        spec.ingestions,
    )
    return _inserted(created) + _inserted(runs)


async def _alerts(conn: Connection, spec: TenantSpec, now: datetime) -> int:
    cleared = await conn.execute(
        """INSERT INTO read.alerts (id, tenant_id, ingestion_id, kind, message, details, raised_at, cleared_at,
                                    clear_reason, status)
           SELECT 'alr_' || i.id || '_' || k, i.tenant_id, i.id, kind, message, details, raised,
                  raised + interval '3 hours', 'the condition ended', 'cleared'
           FROM read.ingestions i CROSS JOIN generate_series(1, 3) AS k
           CROSS JOIN LATERAL (SELECT $2::timestamptz - (k * 25 + random() * 5) * interval '1 day' AS raised,
                                      (ARRAY['run_failed', 'no_new_files', 'backlog_growing'])[k] AS kind,
                                      'run failed: connection reset while reading the file' AS message,
                                      jsonb_build_object('run_id', i.last_run_id) AS details) AS a
           WHERE i.tenant_id = $1""",
        spec.tenant_id,
        now,
    )
    active = await conn.execute(
        """INSERT INTO read.alerts (id, tenant_id, ingestion_id, kind, message, details, raised_at, status)
           SELECT 'alr_' || id || '_active', tenant_id, id,
                  CASE WHEN status = 'error' THEN 'schema_change_pending' ELSE 'run_failed' END,
                  CASE WHEN status = 'error' THEN 'schema version 3 waits for a resolution'
                       ELSE 'run failed: connection reset while reading the file' END,
                  jsonb_build_object('run_id', last_run_id), $2::timestamptz - random() * interval '2 days', 'active'
           FROM read.ingestions
           WHERE tenant_id = $1 AND (status = 'error' OR right(id, 6)::int % 20 = 3)""",
        spec.tenant_id,
        now,
    )
    return _inserted(cleared) + _inserted(active)


async def _schema_versions(conn: Connection, spec: TenantSpec, now: datetime) -> int:
    status = await conn.execute(
        """INSERT INTO read.schema_versions (tenant_id, ingestion_id, version, diff, files, run_id, mode, status,
                                             resolution, detected_at)
           SELECT tenant_id, id, v,
                  jsonb_build_object('added', jsonb_build_array(jsonb_build_object('name', 'col_' || v,
                                                                                   'type', 'string')),
                                     'removed', '[]'::jsonb, 'changed', '[]'::jsonb),
                  jsonb_build_array('landing/new-column-' || v || '.csv'), COALESCE(last_run_id, 'run_none'),
                  'add_new_columns', CASE WHEN status = 'error' AND v = 3 THEN 'pending' ELSE 'applied' END,
                  CASE WHEN status = 'error' AND v = 3 THEN 'pending' ELSE 'auto_applied' END,
                  $2::timestamptz - (4 - v) * interval '20 days'
           FROM read.ingestions CROSS JOIN generate_series(1, 3) AS v
           WHERE tenant_id = $1 AND schema_version IS NOT NULL""",
        spec.tenant_id,
        now,
    )
    return _inserted(status)


async def _clusters(conn: Connection, spec: TenantSpec, now: datetime) -> int:
    status = await conn.execute(
        """INSERT INTO read.clusters (id, tenant_id, name, kind, config, version, created_by, created_at, updated_at)
           SELECT 'clu_' || $2 || '_' || n, $1, CASE WHEN n = 0 THEN 'embedded' ELSE 'spark-' || n END,
                  CASE WHEN n = 0 THEN 'embedded' ELSE 'spark_connect' END,
                  jsonb_build_object('kind', CASE WHEN n = 0 THEN 'embedded' ELSE 'spark_connect' END),
                  n + 1, 'key:key_bench', $3::timestamptz - (100 - n) * interval '1 day',
                  $3::timestamptz - (100 - n) * interval '1 day'
           FROM generate_series(0, 2) AS n""",
        spec.tenant_id,
        spec.key,
        now,
    )
    return _inserted(status)
