-- Vendor logs ingested per lock: each vendor record becomes an event once (its key is unique
-- per lock, so a second read, a concurrent one or one after a restart records nothing twice),
-- read again when next_log_read_at comes.
-- Kept in lockstep with the other backend's 0008_log_ingestion.sql.

ALTER TABLE events ADD COLUMN source_key TEXT;
CREATE UNIQUE INDEX events_source ON events (lock_id, source_key) WHERE source_key IS NOT NULL;
ALTER TABLE locks ADD COLUMN next_log_read_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX locks_log_read ON locks (next_log_read_at);
