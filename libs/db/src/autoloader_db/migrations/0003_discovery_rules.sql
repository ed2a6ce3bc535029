-- Discovery rules of issue 3: skipped files (no run), incremental listing state, backlog.

ALTER TABLE read.files ALTER COLUMN run_id DROP NOT NULL;
ALTER TABLE read.files ALTER COLUMN batch_id DROP NOT NULL;
ALTER TABLE read.ingestions ADD COLUMN backlog_files integer NOT NULL DEFAULT 0;

ALTER TABLE discovery.ledger ALTER COLUMN run_id DROP NOT NULL;

-- Where the last listing of an ingestion stopped, for incremental listings.
CREATE TABLE discovery.listing_state (
    ingestion_id    text PRIMARY KEY,
    last_path       text,
    runs_since_full integer NOT NULL DEFAULT 0
);
