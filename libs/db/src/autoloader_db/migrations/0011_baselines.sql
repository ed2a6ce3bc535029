-- The activation baseline of an ingestion with include_existing_files = false: the files present when it was
-- activated are recorded as skipped. Until that has happened (or when it failed), a run cannot tell existing
-- files from new ones, so runs refuse to load instead of loading everything. Ingestions activated before this
-- table existed have no row and are treated as recorded.
CREATE TABLE discovery.baselines (
    ingestion_id   text PRIMARY KEY,
    tenant_id      text NOT NULL,
    state          text NOT NULL CHECK (state IN ('pending', 'recorded', 'failed')),
    error          text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The run watchdog looks for runs that have been running for a while.
CREATE INDEX runs_running_since ON discovery.runs (started_at) WHERE status = 'running';

-- GET /status lists the runs running for longer than AUTOLOADER_STUCK_RUN_SECONDS, over every tenant.
CREATE INDEX runs_running_by_start ON read.runs (started_at) WHERE status = 'running';
