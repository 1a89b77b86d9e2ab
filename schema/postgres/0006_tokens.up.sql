-- Tokens for non-browser clients and other services (PostgreSQL dialect).
-- The twin of schema/sqlite/0006_tokens.up.sql; the comments there explain
-- each table.

CREATE TABLE refresh_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT refresh_tokens_pkey PRIMARY KEY,
    session_id  bigint NOT NULL
        CONSTRAINT refresh_tokens_session_id_fkey REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  text   NOT NULL
        CONSTRAINT refresh_tokens_token_hash_key UNIQUE
        CONSTRAINT refresh_tokens_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CONSTRAINT refresh_tokens_times_check CHECK (used_at IS NULL OR used_at >= created_at)
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE UNIQUE INDEX refresh_tokens_live_key ON refresh_tokens (session_id) WHERE used_at IS NULL;

CREATE TABLE signing_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT signing_keys_pkey PRIMARY KEY,
    kid         text   NOT NULL
        CONSTRAINT signing_keys_kid_key UNIQUE
        CONSTRAINT signing_keys_kid_check CHECK (length(kid) BETWEEN 1 AND 64),
    key_id      text   NOT NULL
        CONSTRAINT signing_keys_key_id_check CHECK (length(key_id) BETWEEN 1 AND 64),
    private_ct  text   NOT NULL
        CONSTRAINT signing_keys_private_ct_check CHECK (length(private_ct) BETWEEN 16 AND 256),
    public_key  text   NOT NULL
        CONSTRAINT signing_keys_public_key_check CHECK (length(public_key) = 44),
    state       text   NOT NULL
        CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retired')),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz,
    CONSTRAINT signing_keys_retired_check CHECK ((state = 'active') = (retired_at IS NULL))
);

CREATE UNIQUE INDEX signing_keys_state_key ON signing_keys (state) WHERE state = 'active';
