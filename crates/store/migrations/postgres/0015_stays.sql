-- Stays: properties, their calendar feeds and their reservations.

CREATE TABLE properties (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- A JSON list of lock ids.
    lock_ids TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    check_in_time TEXT NOT NULL,
    check_out_time TEXT NOT NULL,
    code_source TEXT NOT NULL,
    early_minutes BIGINT NOT NULL,
    late_minutes BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX properties_org ON properties (org_id, id);

CREATE TABLE calendars (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    property_id TEXT NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    -- The feed's URL carries its owner's token: sealed under the master key.
    url BYTEA NOT NULL,
    name TEXT,
    etag TEXT,
    last_modified TEXT,
    last_error TEXT,
    last_read_at BIGINT,
    -- When it is read next; a reader moves it on when it claims the feed.
    next_read_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX calendars_property ON calendars (property_id);
CREATE INDEX calendars_due ON calendars (next_read_at);

CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    property_id TEXT NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    source TEXT NOT NULL,
    guest_name TEXT,
    -- The phone's last digits and an asked-for PIN, sealed.
    phone_last4 BYTEA,
    code BYTEA,
    check_in_at BIGINT NOT NULL,
    check_out_at BIGINT NOT NULL,
    cancelled BIGINT NOT NULL DEFAULT 0,
    grant_id TEXT,
    readiness TEXT NOT NULL,
    reasons TEXT NOT NULL,
    warnings TEXT NOT NULL,
    -- A JSON list of fallback codes (PINs in it), sealed.
    fallback_codes BYTEA,
    checked_at BIGINT,
    next_check_at BIGINT,
    -- Moves with every write; the stay's grant has been brought to `applied_version`.
    version BIGINT NOT NULL DEFAULT 0,
    applied_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (property_id, external_id)
);
CREATE INDEX reservations_org ON reservations (org_id, check_in_at);
CREATE INDEX reservations_check ON reservations (next_check_at);
CREATE INDEX reservations_unapplied ON reservations (applied_version, version);
