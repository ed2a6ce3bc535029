-- Issue 14: run-control operations, run costs, alerts, monitoring read models and the audit trail.

-- discovery: what each run did and cost (the cost model's history), and the operation steps done.
ALTER TABLE discovery.runs ADD COLUMN estimated_cost double precision;
ALTER TABLE discovery.runs ADD COLUMN operation_files integer;  -- files a run-control step forgot or marked seen
ALTER TABLE discovery.runs ADD COLUMN bytes_read bigint;
ALTER TABLE discovery.runs ADD COLUMN duration_seconds double precision;
ALTER TABLE discovery.runs ADD COLUMN spark_seconds double precision;
ALTER TABLE discovery.runs ADD COLUMN batches integer;
CREATE INDEX runs_history ON discovery.runs (ingestion_id, completed_at DESC) WHERE status = 'completed';

-- discovery: alert conditions per ingestion (one row per active alert) and what they are computed from.
CREATE TABLE discovery.alerts (
    ingestion_id  text NOT NULL,
    kind          text NOT NULL,
    tenant_id     text NOT NULL,
    alert_id      text NOT NULL,
    raised_at     timestamptz NOT NULL,
    PRIMARY KEY (ingestion_id, kind)
);
CREATE TABLE discovery.alert_watch (
    ingestion_id     text PRIMARY KEY,
    tenant_id        text NOT NULL,
    last_files_at    timestamptz NOT NULL,   -- last time a run loaded a file (or activation)
    no_files_hours   integer,                -- quality.no_files_alert_hours when last seen
    backlog_history  integer[] NOT NULL DEFAULT '{}'  -- backlog_files of the last runs, newest last
);
CREATE INDEX alert_watch_no_files ON discovery.alert_watch (last_files_at) WHERE no_files_hours IS NOT NULL;

-- read: run costs and the monitoring roll-up.
ALTER TABLE read.runs ADD COLUMN cost jsonb;
CREATE INDEX runs_by_tenant_end ON read.runs (tenant_id, ended_at DESC);
CREATE TABLE read.daily_run_stats (
    tenant_id      text NOT NULL,
    ingestion_id   text NOT NULL,
    day            date NOT NULL,
    runs           integer NOT NULL DEFAULT 0,
    success        integer NOT NULL DEFAULT 0,
    partial        integer NOT NULL DEFAULT 0,
    failed         integer NOT NULL DEFAULT 0,
    skipped        integer NOT NULL DEFAULT 0,
    files          bigint NOT NULL DEFAULT 0,
    files_failed   bigint NOT NULL DEFAULT 0,
    rows           bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    duration_sum   double precision NOT NULL DEFAULT 0,   -- over completed (not skipped) runs
    cost_actual    double precision NOT NULL DEFAULT 0,
    cost_estimated double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (ingestion_id, day)
);
CREATE INDEX daily_run_stats_by_tenant ON read.daily_run_stats (tenant_id, day);

-- read: alerts.
CREATE TABLE read.alerts (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    ingestion_id  text NOT NULL,
    kind          text NOT NULL,
    message       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    raised_at     timestamptz NOT NULL,
    cleared_at    timestamptz,
    clear_reason  text,
    status        text NOT NULL            -- active | cleared
);
CREATE INDEX alerts_by_tenant ON read.alerts (tenant_id, raised_at DESC, id DESC);
CREATE INDEX alerts_active_by_ingestion ON read.alerts (ingestion_id) WHERE status = 'active';

-- read: the audit trail of an ingestion (its own events and its runs'; never a secret: events carry none).
CREATE TABLE read.ingestion_events (
    seq            bigint PRIMARY KEY,
    tenant_id      text NOT NULL,
    ingestion_id   text NOT NULL,
    type           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    actor          text NOT NULL,
    aggregate      text NOT NULL,
    aggregate_id   text NOT NULL,
    correlation_id text NOT NULL,
    causation_id   text,
    data           jsonb NOT NULL
);
CREATE INDEX ingestion_events_by_ingestion ON read.ingestion_events (tenant_id, ingestion_id, seq DESC);
