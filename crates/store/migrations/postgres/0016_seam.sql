-- The Seam-compatible surface: action attempts, and endpoints that receive Seam-shaped bodies.

-- An unlock, a lock or a code write asked for through /seam. An unlock or lock is finished by
-- the instance that started it (pending -> success | error, conditional on pending); a code
-- write's attempt follows its code, whose status the engine keeps.
CREATE TABLE action_attempts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    -- LOCK_DOOR, UNLOCK_DOOR, CREATE_ACCESS_CODE, UPDATE_ACCESS_CODE, DELETE_ACCESS_CODE,
    -- CONVERT_ACCESS_CODE_TO_MANAGED.
    action_type TEXT NOT NULL,
    lock_id TEXT NOT NULL,
    access_code_id TEXT,
    -- pending, success or error.
    status TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX action_attempts_org ON action_attempts (org_id, id);
CREATE INDEX action_attempts_pending ON action_attempts (status, created_at);

-- `lockbridge` (the /v1 body) or `seam` (Seam's event object, for endpoints made through /seam).
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'lockbridge';
