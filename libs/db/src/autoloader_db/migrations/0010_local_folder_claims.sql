-- Local folders belong to the tenant whose ingestion first used them: the allowed roots are shared by every
-- tenant of a deployment, so without this any tenant could point an ingestion (or a preview) at a folder another
-- tenant loads from and read its files. A folder inside or around a claimed one is the claimant's too.
CREATE TABLE api.local_folders (
    path        text PRIMARY KEY,   -- resolved (symlinks followed), as confine_path returns it
    tenant_id   text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX local_folders_by_tenant ON api.local_folders (tenant_id);

-- Folders that ingestions of an existing install already read belong to the tenant that used them first
-- (their paths as configured; new claims store the resolved path).
INSERT INTO api.local_folders (path, tenant_id, claimed_at)
SELECT DISTINCT ON (config->'source'->>'path') rtrim(config->'source'->>'path', '/'), tenant_id, created_at
  FROM read.ingestions
 WHERE source_type = 'local' AND status <> 'deleted' AND coalesce(config->'source'->>'path', '') <> ''
 ORDER BY config->'source'->>'path', created_at
ON CONFLICT (path) DO NOTHING;
