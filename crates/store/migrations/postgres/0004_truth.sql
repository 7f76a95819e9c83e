-- A code's status kept true: versioned rows written conditionally, leases for the worker that
-- works a code, one live code per PIN on a lock, errors and warnings, reconciliation, events.
-- Kept in lockstep with the other backend's 0004_truth.sql.

ALTER TABLE access_codes ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_codes ADD COLUMN lease_owner TEXT;
ALTER TABLE access_codes ADD COLUMN lease_until BIGINT;
ALTER TABLE access_codes ADD COLUMN removed_reason TEXT;
ALTER TABLE access_codes ADD COLUMN errors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE access_codes ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
ALTER TABLE access_codes ADD COLUMN on_external_change TEXT;
-- HMAC-SHA256 of the PIN under a key derived from the master key, keyed by lock: equal PINs
-- on one lock have equal hashes, nothing else can be learned from it.
ALTER TABLE access_codes ADD COLUMN pin_hash TEXT;
CREATE UNIQUE INDEX access_codes_live_pin ON access_codes (lock_id, pin_hash)
    WHERE pin_hash IS NOT NULL AND status IN ('scheduled', 'setting', 'set', 'removing');

ALTER TABLE locks ADD COLUMN errors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE locks ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
-- When the lock's codes are next compared with the vendor's; a claim moves it to the end of
-- its lease, a finished pass to one interval later.
ALTER TABLE locks ADD COLUMN next_reconcile_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX locks_reconcile ON locks (next_reconcile_at);

ALTER TABLE connections ADD COLUMN on_external_change TEXT NOT NULL DEFAULT 'restore';
ALTER TABLE connections ADD COLUMN next_device_sync_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    connection_id TEXT,
    lock_id TEXT,
    access_code_id TEXT,
    grant_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX events_org ON events (org_id, id);
CREATE INDEX events_lock ON events (lock_id, id);
CREATE INDEX events_code ON events (access_code_id, id);
