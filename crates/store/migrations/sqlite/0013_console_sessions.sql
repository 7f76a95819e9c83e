-- Console sessions: an API key signed in from a browser. The cookie's token is kept as its
-- SHA-256 only; a session ends at expires_at, on sign-out, or with its key (cascade).
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (api_key_id);
