-- Login sessions and password-reset tokens (SQLite dialect).
--
-- Tokens are never stored: only the lower-case hex SHA-256 of a 256-bit
-- random token, so a copy of the database reveals no live session and no
-- usable reset token. The same hex text works on both engines with one Go
-- type. Times are UTC, written by the store's clock; SQLite compares them as
-- text, which orders correctly because the driver writes one fixed format.

CREATE TABLE sessions (
    -- AUTOINCREMENT: a revoked session's id is never given to another one,
    -- so "revoke session 7" can never hit a session created later.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL
        CONSTRAINT sessions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL
        CONSTRAINT sessions_token_hash_key UNIQUE
        CONSTRAINT sessions_token_hash_check CHECK (typeof(token_hash) = 'text' AND length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    created_at   DATETIME NOT NULL,
    -- Moved forward by at most one write per session per minute (idle timeout).
    last_seen_at DATETIME NOT NULL,
    -- created_at plus the absolute lifetime in force at login.
    expires_at   DATETIME NOT NULL,
    CONSTRAINT sessions_times_check CHECK (last_seen_at >= created_at AND expires_at > created_at)
);

-- A user's sessions (list, revoke all) without a scan.
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
-- The purge of expired sessions.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE password_resets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- At most one live token per user: issuing a new one replaces the old.
    user_id    INTEGER NOT NULL
        CONSTRAINT password_resets_user_id_key UNIQUE
        CONSTRAINT password_resets_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL
        CONSTRAINT password_resets_token_hash_key UNIQUE
        CONSTRAINT password_resets_token_hash_check CHECK (typeof(token_hash) = 'text' AND length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    created_at DATETIME NOT NULL,
    -- A token is deleted when used, so a row is a token that can still work
    -- until expires_at.
    expires_at DATETIME NOT NULL,
    CONSTRAINT password_resets_times_check CHECK (expires_at > created_at)
);

CREATE INDEX password_resets_expires_at_idx ON password_resets (expires_at);
