-- Clusters of issue 5: where each tenant's batches are loaded (the embedded engine or Spark Connect).

CREATE TABLE read.clusters (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,             -- embedded | spark_connect
    config      jsonb NOT NULL,            -- ClusterConfig: the token only as token_ref
    version     bigint NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX clusters_by_tenant ON read.clusters (tenant_id, created_at, id);
