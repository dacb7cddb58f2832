-- Browser sessions of the web UI. Only the SHA-256 of the session id is
-- stored; the CSRF token is per session and sent back on every unsafe request.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    rep_id TEXT,
    user_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
