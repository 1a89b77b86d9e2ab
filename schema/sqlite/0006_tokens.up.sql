-- Tokens for non-browser clients and other services (SQLite dialect):
-- refresh tokens, and the Ed25519 keys that sign access tokens.
--
-- A refresh token is stored only as the hex SHA-256 of its 256 random bits.
-- Its family is its session: every rotation adds a row to the same session,
-- and ending the session (logout, revocation, a password change or reset,
-- the account's deletion, a reused token) deletes them all.

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL
        CONSTRAINT refresh_tokens_session_id_fkey REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL
        CONSTRAINT refresh_tokens_token_hash_key UNIQUE
        CONSTRAINT refresh_tokens_token_hash_check CHECK (typeof(token_hash) = 'text' AND length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    created_at  DATETIME NOT NULL,
    -- When the token was exchanged for the next one; NULL while it is the
    -- family's live token. Presenting a token whose used_at is set is reuse.
    used_at     DATETIME,
    CONSTRAINT refresh_tokens_times_check CHECK (used_at IS NULL OR used_at >= created_at)
);

-- The cascade from sessions, and a family's tokens.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
-- At most one live token per family: of two rotations racing, one fails here
-- even if both passed the conditional update.
CREATE UNIQUE INDEX refresh_tokens_live_key ON refresh_tokens (session_id) WHERE used_at IS NULL;

CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The JWS "kid": the RFC 7638 thumbprint of the public key, base64url.
    kid         TEXT    NOT NULL
        CONSTRAINT signing_keys_kid_key UNIQUE
        CONSTRAINT signing_keys_kid_check CHECK (typeof(kid) = 'text' AND length(kid) BETWEEN 1 AND 64),
    -- The Config.SecretKeys key the private key is encrypted under.
    key_id      TEXT    NOT NULL
        CONSTRAINT signing_keys_key_id_check CHECK (typeof(key_id) = 'text' AND length(key_id) BETWEEN 1 AND 64),
    -- base64 of nonce || AES-256-GCM ciphertext of the Ed25519 seed (the kid
    -- as additional data).
    private_ct  TEXT    NOT NULL
        CONSTRAINT signing_keys_private_ct_check CHECK (typeof(private_ct) = 'text' AND length(private_ct) BETWEEN 16 AND 256),
    -- base64 of the 32-byte Ed25519 public key, published in the JWKS.
    public_key  TEXT    NOT NULL
        CONSTRAINT signing_keys_public_key_check CHECK (typeof(public_key) = 'text' AND length(public_key) = 44),
    -- 'active' signs; 'retired' only verifies, until every token it signed
    -- has expired and PurgeExpired deletes it.
    state       TEXT    NOT NULL
        CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retired')),
    created_at  DATETIME NOT NULL,
    retired_at  DATETIME,
    CONSTRAINT signing_keys_retired_check CHECK ((state = 'active') = (retired_at IS NULL))
);

-- At most one active key: two instances creating the first key at once, or
-- two rotations, cannot both succeed. Named as SQLite reports a violation of
-- a unique index on one column ("signing_keys.state"), so that both engines
-- name it alike.
CREATE UNIQUE INDEX signing_keys_state_key ON signing_keys (state) WHERE state = 'active';
