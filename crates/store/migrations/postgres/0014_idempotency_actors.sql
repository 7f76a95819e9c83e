-- Idempotency beyond the resources that carry their own key (codes, grants): a job keeps the
-- key it was created with (the same request again answers the same job); every other POST
-- that changes something keeps its answer here for a day, keyed by organisation and key.
-- Kept in lockstep with the other backend's 0014_idempotency_actors.sql.
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE jobs ADD COLUMN idempotency_fingerprint TEXT;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (org_id, idempotency_key);

CREATE TABLE idempotency_keys (
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    -- SHA-256 of the method, path and body of the first request.
    fingerprint TEXT NOT NULL,
    -- running, done
    state TEXT NOT NULL,
    status BIGINT,
    body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Who caused each event (api_key, console, system, vendor; the key's id and name), and who
-- asked for what a code or a grant now wants (JSON `{type, id, name}`), for the events the
-- engine writes later on their behalf.
ALTER TABLE events ADD COLUMN actor_type TEXT NOT NULL DEFAULT 'system';
ALTER TABLE events ADD COLUMN actor_id TEXT;
ALTER TABLE events ADD COLUMN actor_name TEXT;
CREATE INDEX events_actor ON events (org_id, actor_type, actor_id, id);
ALTER TABLE access_codes ADD COLUMN actor TEXT;
ALTER TABLE grants ADD COLUMN actor TEXT;
ALTER TABLE jobs ADD COLUMN actor TEXT;

-- A lock's time zone as an operator set it (PATCH /v1/locks/{id}), which the vendor's own
-- (time_zone, read at each sync) does not replace; and the UTC offset a vendor gives where
-- it gives no zone (TTLock), in minutes.
ALTER TABLE locks ADD COLUMN time_zone_set TEXT;
ALTER TABLE locks ADD COLUMN utc_offset_minutes BIGINT;

-- A code's kind: `online`, or an offline (algorithmic) kind such as `offline_one_time`.
ALTER TABLE access_codes ADD COLUMN kind TEXT NOT NULL DEFAULT 'online';

-- A success closes the event's other pending attempts to its endpoint: found by event.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, webhook_id);
