-- lockbridge schema, version 1. Kept in lockstep with the other backend's 0001_init.sql.
-- Instants are milliseconds since the Unix epoch (UTC); ids are prefixed UUIDv7 text.

CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL,
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    base_url TEXT,
    status TEXT NOT NULL,
    -- Credentials and tokens, AES-256-GCM under the master key.
    credentials BLOB NOT NULL,
    credentials_version BIGINT NOT NULL,
    token_expires_at BIGINT,
    last_sync_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX connections_org ON connections (org_id, id);
CREATE INDEX connections_expiry ON connections (token_expires_at);

CREATE TABLE gateways (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    online BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (connection_id, provider_id)
);
CREATE INDEX gateways_org ON gateways (org_id, id);

CREATE TABLE locks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    online BIGINT NOT NULL,
    state TEXT NOT NULL,
    battery BIGINT,
    gateway_id TEXT REFERENCES gateways (id) ON DELETE SET NULL,
    time_zone TEXT,
    capabilities TEXT NOT NULL,
    code_rules TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (connection_id, provider_id)
);
CREATE INDEX locks_org ON locks (org_id, id);

CREATE TABLE access_codes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    name TEXT,
    -- The PIN, AES-256-GCM under the master key.
    code BLOB NOT NULL,
    starts_at BIGINT,
    ends_at BIGINT,
    schedule TEXT,
    status TEXT NOT NULL,
    frozen BIGINT NOT NULL,
    managed BIGINT NOT NULL,
    provider_id TEXT,
    last_error TEXT,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, idempotency_key)
);
CREATE INDEX access_codes_lock ON access_codes (lock_id, id);
CREATE INDEX access_codes_due ON access_codes (next_attempt_at);
CREATE INDEX access_codes_provider ON access_codes (lock_id, provider_id);
