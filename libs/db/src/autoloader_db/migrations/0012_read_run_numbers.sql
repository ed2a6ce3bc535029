-- The numbers the API's lists and dashboard read from a run's metrics jsonb, as stored generated columns
-- (issue 13: p99 < 100 ms for GET /ingestions, /ingestions/{id}/runs and /dashboard at 1,000 ingestions
-- and 1M runs; bench/api_load.py). Reading them from the jsonb fetched and decompressed every run's whole
-- metrics document: 1,000 per page of 50 ingestions (the cost model's last 20 runs each), ~11,000 for the
-- dashboard's last 24 hours. As columns, covering indexes answer those queries from the index alone.
--
-- A generated column's expression must be IMMUTABLE, and a value that does not cast must not make the
-- projector's INSERT fail: these functions return NULL for anything but a JSON number that fits
-- (the old reads cast with ::bigint / ::float8, which fail on such a value only when read).
--
-- Upgrade note: adding the columns rewrites read.runs (about a minute per million runs; docs/operations.md).

CREATE FUNCTION read.jsonb_bigint(doc jsonb, key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(doc -> key) = 'number'
                 AND (doc ->> key)::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
                THEN round((doc ->> key)::numeric)::bigint END;

CREATE FUNCTION read.jsonb_float8(doc jsonb, key text) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(doc -> key) = 'number'
                 AND abs((doc ->> key)::numeric) < 1e308
                THEN (doc ->> key)::double precision END;

ALTER TABLE read.runs
    ADD COLUMN files_processed  bigint GENERATED ALWAYS AS (read.jsonb_bigint(metrics, 'files_processed')) STORED,
    ADD COLUMN files_listed     bigint GENERATED ALWAYS AS (read.jsonb_bigint(metrics, 'files_listed')) STORED,
    ADD COLUMN records_ingested bigint GENERATED ALWAYS AS (read.jsonb_bigint(metrics, 'records_ingested')) STORED,
    ADD COLUMN bytes_read       bigint GENERATED ALWAYS AS (read.jsonb_bigint(metrics, 'bytes_read')) STORED,
    ADD COLUMN batches          bigint GENERATED ALWAYS AS (read.jsonb_bigint(metrics, 'batches')) STORED,
    ADD COLUMN duration_seconds double precision
        GENERATED ALWAYS AS (read.jsonb_float8(metrics, 'duration_seconds')) STORED,
    ADD COLUMN spark_seconds    double precision
        GENERATED ALWAYS AS (read.jsonb_float8(metrics, 'spark_seconds')) STORED;

-- The last finished runs of each ingestion of a page (the cost model's sizes and history:
-- ReadModels.recent_run_averages, run_samples_of), from the index alone.
CREATE INDEX runs_finished_by_ingestion ON read.runs (tenant_id, ingestion_id, requested_at DESC)
    INCLUDE (bytes_read, files_processed, files_listed, duration_seconds, spark_seconds, batches)
    WHERE status IN ('success', 'partial', 'failed');

-- The dashboard's last 24 hours (runs that ended since), from the index alone; replaces runs_by_tenant_end.
CREATE INDEX runs_by_tenant_end_numbers ON read.runs (tenant_id, ended_at DESC)
    INCLUDE (status, files_processed, records_ingested, bytes_read);
DROP INDEX read.runs_by_tenant_end;

-- The dashboard's cost this month (sum of cost_actual over the tenant's days since the 1st), from the index
-- alone; replaces daily_run_stats_by_tenant (same key).
CREATE INDEX daily_run_stats_by_tenant_cost ON read.daily_run_stats (tenant_id, day) INCLUDE (cost_actual);
DROP INDEX read.daily_run_stats_by_tenant;
