-- Bad-data policies of issue 4: what a loaded batch left out (skipped files, dropped rows).

ALTER TABLE discovery.batches ADD COLUMN rejected_rows bigint NOT NULL DEFAULT 0;
-- RunError dicts (error_type, message, file, line): the files left out, then the dropped rows (capped).
ALTER TABLE discovery.batches ADD COLUMN bad_data jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX ledger_failed_by_run ON discovery.ledger (run_id) WHERE state = 'failed';
