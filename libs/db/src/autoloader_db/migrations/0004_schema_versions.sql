-- Schema versions: every schema change the loader detected for an ingestion, and its resolution.

CREATE TABLE read.schema_versions (
    tenant_id     text NOT NULL,
    ingestion_id  text NOT NULL,
    version       integer NOT NULL,
    diff          jsonb NOT NULL,          -- {added, removed, changed: [{name, old_type, new_type}]}
    files         jsonb NOT NULL,          -- paths of the files that brought the change
    run_id        text NOT NULL,
    mode          text NOT NULL,           -- the evolution mode at detection
    status        text NOT NULL,           -- pending | resolved | applied
    resolution    text NOT NULL,           -- auto_applied | rescued | ignored_fields | pending | auto_merge | ignore
    detected_at   timestamptz NOT NULL,
    resolved_by   text,
    resolved_at   timestamptz,
    PRIMARY KEY (ingestion_id, version)
);
CREATE INDEX schema_versions_by_tenant ON read.schema_versions (tenant_id, ingestion_id, version DESC);

ALTER TABLE read.ingestions ADD COLUMN schema_version integer;
