-- Read-side indexes found by bench/api_reads_at_scale.py (a tenant with 1,000 ingestions, 1M runs, 300k files).

-- GET /ingestions/{id}/runs/{run_id} lists the run's files (ReadModels.run_files: tenant_id + run_id):
-- without this index it read the whole ledger (a sequential scan of read.files).
CREATE INDEX files_by_run ON read.files (run_id) WHERE run_id IS NOT NULL;

-- GET /ingestions/{id}/metrics reads the runs of one ingestion that ended in the window
-- (Monitoring.metrics: tenant_id + ingestion_id + ended_at >=): runs_by_ingestion is ordered by
-- requested_at, so it walked every run of the ingestion (31k for a busy one) to keep the last days.
CREATE INDEX runs_by_ingestion_end ON read.runs (tenant_id, ingestion_id, ended_at);

-- The ingestion's queued or running run (ReadModels.active_run, asked by run control): runs_by_ingestion
-- walked every run of an idle ingestion looking for one. Only active runs are in this index, so it stays tiny.
CREATE INDEX runs_active_by_ingestion ON read.runs (tenant_id, ingestion_id, requested_at DESC)
    WHERE status IN ('queued', 'running');

-- The projector marks each file of a loaded or failed batch (UPDATE read.files ... WHERE batch_id = $1 AND
-- path = $2, once per file): without this index every file of every batch scanned the whole ledger.
CREATE INDEX files_by_batch ON read.files (batch_id, path);
