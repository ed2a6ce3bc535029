-- Catalogs of issue 11 (ADR 0007): each tenant's own Iceberg catalogs (REST, Glue, Hive, SQL).

CREATE TABLE read.catalogs (
    id          text PRIMARY KEY,          -- catalog_id(tenant, name): deterministic
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    type        text NOT NULL,             -- rest | glue | hive | sql
    config      jsonb NOT NULL,            -- CatalogConfig: the credentials only as credential_ref
    version     bigint NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX catalogs_by_tenant ON read.catalogs (tenant_id, created_at, id);
