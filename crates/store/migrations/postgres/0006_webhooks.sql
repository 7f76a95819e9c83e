-- Webhook endpoints and their deliveries: one row per attempt of an event to an endpoint,
-- written in the transaction of the event itself (the events are the outbox).
-- Kept in lockstep with the other backend's 0006_webhooks.sql.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- JSON list of event types; entries may end in `.*`; empty: every type.
    event_types TEXT NOT NULL,
    description TEXT,
    enabled BIGINT NOT NULL,
    -- The signing secret, sealed with the master key; the previous one signs too until
    -- previous_until (a rotation).
    secret BYTEA NOT NULL,
    previous_secret BYTEA,
    previous_until BIGINT,
    -- Since when every attempt to the endpoint failed (none when the last one succeeded).
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, id);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    -- pending, succeeded, failed
    status TEXT NOT NULL,
    response_status BIGINT,
    duration_ms BIGINT,
    error TEXT,
    next_attempt_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
