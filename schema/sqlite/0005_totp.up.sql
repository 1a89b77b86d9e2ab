-- Two-factor authentication: TOTP factors, pending enrollments, recovery
-- codes and login challenges (SQLite dialect).
--
-- TOTP secrets are stored only encrypted (AES-256-GCM, the user id as
-- additional data) under a key the operator holds outside the database,
-- named by key_id so that keys can be rotated; recovery codes and challenge
-- tokens only as their hex SHA-256. A copy of the database reveals none of
-- them.

CREATE TABLE totp_factors (
    -- At most one active factor per user.
    user_id     INTEGER NOT NULL
        CONSTRAINT totp_factors_pkey PRIMARY KEY
        CONSTRAINT totp_factors_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key_id      TEXT    NOT NULL
        CONSTRAINT totp_factors_key_id_check CHECK (typeof(key_id) = 'text' AND length(key_id) BETWEEN 1 AND 64),
    -- base64 of nonce || AES-256-GCM ciphertext of the secret.
    secret_ct   TEXT    NOT NULL
        CONSTRAINT totp_factors_secret_ct_check CHECK (typeof(secret_ct) = 'text' AND length(secret_ct) BETWEEN 16 AND 256),
    -- The last 30-second time step a code was accepted for: a code is
    -- accepted only for a later step (RFC 6238 §5.2: never the same code twice).
    last_step   INTEGER NOT NULL DEFAULT 0
        CONSTRAINT totp_factors_last_step_check CHECK (last_step >= 0),
    enabled_at  DATETIME NOT NULL
);

CREATE TABLE totp_enrollments (
    -- At most one pending enrollment per user; a new one replaces it.
    user_id     INTEGER NOT NULL
        CONSTRAINT totp_enrollments_pkey PRIMARY KEY
        CONSTRAINT totp_enrollments_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key_id      TEXT    NOT NULL
        CONSTRAINT totp_enrollments_key_id_check CHECK (typeof(key_id) = 'text' AND length(key_id) BETWEEN 1 AND 64),
    secret_ct   TEXT    NOT NULL
        CONSTRAINT totp_enrollments_secret_ct_check CHECK (typeof(secret_ct) = 'text' AND length(secret_ct) BETWEEN 16 AND 256),
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    CONSTRAINT totp_enrollments_times_check CHECK (expires_at > created_at)
);

CREATE INDEX totp_enrollments_expires_at_idx ON totp_enrollments (expires_at);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL
        CONSTRAINT recovery_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT    NOT NULL
        CONSTRAINT recovery_codes_code_hash_key UNIQUE
        CONSTRAINT recovery_codes_code_hash_check CHECK (typeof(code_hash) = 'text' AND length(code_hash) = 64 AND code_hash NOT GLOB '*[^0-9a-f]*'),
    created_at  DATETIME NOT NULL
);

CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

CREATE TABLE mfa_challenges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL
        CONSTRAINT mfa_challenges_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL
        CONSTRAINT mfa_challenges_token_hash_key UNIQUE
        CONSTRAINT mfa_challenges_token_hash_check CHECK (typeof(token_hash) = 'text' AND length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    -- credentials.password_changed_at when the password was verified: the
    -- challenge dies if the password is changed, set or reset before it is
    -- answered (a login's rehash keeps the password, and this time).
    password_changed_at DATETIME NOT NULL,
    -- The device token the password step presented, by its id (0: none).
    device_id   INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0
        CONSTRAINT mfa_challenges_failures_check CHECK (failures >= 0),
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    CONSTRAINT mfa_challenges_times_check CHECK (expires_at > created_at)
);

CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
