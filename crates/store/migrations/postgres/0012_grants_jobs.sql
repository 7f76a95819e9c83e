-- Scheduling of codes, grants (one person, several locks) and bulk jobs.

-- 'native' (the lock holds the period or window) or 'just_in_time'; a just-in-time code's
-- current or next opening is [window_start, window_end).
ALTER TABLE access_codes ADD COLUMN scheduling TEXT NOT NULL DEFAULT 'native';
ALTER TABLE access_codes ADD COLUMN window_start BIGINT;
ALTER TABLE access_codes ADD COLUMN window_end BIGINT;
ALTER TABLE access_codes ADD COLUMN grant_id TEXT;
CREATE INDEX access_codes_grant ON access_codes (grant_id);
CREATE INDEX access_codes_window ON access_codes (window_end);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_at BIGINT,
    ends_at BIGINT,
    schedule TEXT,
    scheduling TEXT NOT NULL,
    on_shared_code_impossible TEXT NOT NULL,
    -- The locks, a JSON list of ids; the shared PIN (sealed), when there is one.
    lock_ids TEXT NOT NULL,
    code BYTEA,
    -- The version whose wanted state every code of the grant has been brought to.
    applied_version BIGINT NOT NULL DEFAULT 0,
    -- setting, set, partial, removing, removed: moved only by conditional updates that
    -- write grant.set / grant.failed with them.
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    idempotency_fingerprint TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, idempotency_key)
);
CREATE INDEX grants_org ON grants (org_id, id);
CREATE INDEX grants_status ON grants (status);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- queued, running, done, failed
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_org ON jobs (org_id, id);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE job_items (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    lock_id TEXT,
    -- The item as submitted (it may carry a PIN), AES-256-GCM under the master key.
    item BYTEA NOT NULL,
    -- pending, working (its code is created), succeeded, failed
    status TEXT NOT NULL,
    access_code_id TEXT,
    error TEXT,
    PRIMARY KEY (job_id, idx)
);
