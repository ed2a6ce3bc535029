-- Autoloader initial schema.
-- api: tenants and hashed API keys (owned by the api service).
-- read: read models rebuilt from the event log (owned by the projector).
-- discovery: the file ledger and run/batch bookkeeping (owned by the discovery service).

CREATE SCHEMA IF NOT EXISTS api;
CREATE SCHEMA IF NOT EXISTS read;
CREATE SCHEMA IF NOT EXISTS discovery;

CREATE TABLE api.tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api.api_keys (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES api.tenants(id),
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE read.checkpoints (
    projection  text PRIMARY KEY,
    last_seq    bigint NOT NULL
);

CREATE TABLE read.ingestions (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    status          text NOT NULL,
    source_type     text NOT NULL,
    config          jsonb NOT NULL,
    version         bigint NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_run_id     text,
    last_run_status text,
    last_run_time   timestamptz
);
CREATE INDEX ingestions_by_tenant ON read.ingestions (tenant_id, created_at DESC, id DESC);

CREATE TABLE read.runs (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    ingestion_id    text NOT NULL,
    status          text NOT NULL,
    trigger         text NOT NULL,
    scheduled_for   timestamptz,
    requested_at    timestamptz NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz,
    skip_reason     text,
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors          jsonb NOT NULL DEFAULT '[]'::jsonb,
    snapshot_ids    jsonb NOT NULL DEFAULT '[]'::jsonb,
    requested_by    text NOT NULL
);
CREATE INDEX runs_by_ingestion ON read.runs (tenant_id, ingestion_id, requested_at DESC, id DESC);

CREATE TABLE read.files (
    tenant_id     text NOT NULL,
    ingestion_id  text NOT NULL,
    path          text NOT NULL,
    identity      text NOT NULL,
    size          bigint NOT NULL,
    etag          text,
    modified_at   timestamptz NOT NULL,
    first_seen_at timestamptz NOT NULL,
    run_id        text NOT NULL,
    batch_id      text NOT NULL,
    state         text NOT NULL,
    rows          bigint,
    snapshot_id   bigint,
    error         text,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (ingestion_id, path, identity)
);
CREATE INDEX files_by_ingestion ON read.files (tenant_id, ingestion_id, first_seen_at DESC, path);

CREATE TABLE discovery.runs (
    run_id        text PRIMARY KEY,
    tenant_id     text NOT NULL,
    ingestion_id  text NOT NULL,
    status        text NOT NULL,          -- running | completed
    planned       boolean NOT NULL DEFAULT false,  -- files claimed and batches stored
    trigger       text NOT NULL,
    started_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    files_listed  integer NOT NULL DEFAULT 0,
    backlog_files integer NOT NULL DEFAULT 0,
    correlation_id text NOT NULL
);
-- At most one running run per ingestion, enforced atomically by the database.
CREATE UNIQUE INDEX one_running_run_per_ingestion ON discovery.runs (ingestion_id) WHERE status = 'running';

CREATE TABLE discovery.batches (
    batch_id      text PRIMARY KEY,
    run_id        text NOT NULL REFERENCES discovery.runs(run_id),
    batch_number  integer NOT NULL,
    state         text NOT NULL,          -- planned | loaded | failed
    rows          bigint NOT NULL DEFAULT 0,
    bytes         bigint NOT NULL DEFAULT 0,
    snapshot_id   bigint,
    error         jsonb,
    planned_event bytea NOT NULL          -- the BatchPlanned event, re-published after a crash
);
CREATE INDEX batches_by_run ON discovery.batches (run_id);

CREATE TABLE discovery.ledger (
    tenant_id     text NOT NULL,
    ingestion_id  text NOT NULL,
    path          text NOT NULL,
    identity      text NOT NULL,
    size          bigint NOT NULL,
    etag          text,
    modified_at   timestamptz NOT NULL,
    first_seen_at timestamptz NOT NULL,
    run_id        text NOT NULL,
    batch_id      text,
    state         text NOT NULL,          -- loading | loaded | failed | skipped
    rows          bigint,
    snapshot_id   bigint,
    error         text,
    PRIMARY KEY (ingestion_id, path, identity)
);
CREATE INDEX ledger_by_batch ON discovery.ledger (batch_id);
