-- Login sessions and password-reset tokens (PostgreSQL dialect). The twin of
-- schema/sqlite/0002_sessions.up.sql: same tables, columns and constraint
-- names, so errors map the same way and the same queries run on both.
--
-- Tokens are never stored: only the lower-case hex SHA-256 of a 256-bit
-- random token. Hex text rather than bytea so that one Go type (string)
-- serves both engines.

CREATE TABLE sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL
        CONSTRAINT sessions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash   text   NOT NULL
        CONSTRAINT sessions_token_hash_key UNIQUE
        CONSTRAINT sessions_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL,
    -- Moved forward by at most one write per session per minute (idle timeout).
    last_seen_at timestamptz NOT NULL,
    -- created_at plus the absolute lifetime in force at login.
    expires_at   timestamptz NOT NULL,
    CONSTRAINT sessions_times_check CHECK (last_seen_at >= created_at AND expires_at > created_at)
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE password_resets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL
        CONSTRAINT password_resets_user_id_key UNIQUE
        CONSTRAINT password_resets_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash text   NOT NULL
        CONSTRAINT password_resets_token_hash_key UNIQUE
        CONSTRAINT password_resets_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT password_resets_times_check CHECK (expires_at > created_at)
);

CREATE INDEX password_resets_expires_at_idx ON password_resets (expires_at);
