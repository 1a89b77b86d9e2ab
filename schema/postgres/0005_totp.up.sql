-- Two-factor authentication (PostgreSQL dialect). The twin of
-- schema/sqlite/0005_totp.up.sql; the comments there explain each table.

CREATE TABLE totp_factors (
    user_id     bigint NOT NULL
        CONSTRAINT totp_factors_pkey PRIMARY KEY
        CONSTRAINT totp_factors_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key_id      text   NOT NULL
        CONSTRAINT totp_factors_key_id_check CHECK (length(key_id) BETWEEN 1 AND 64),
    secret_ct   text   NOT NULL
        CONSTRAINT totp_factors_secret_ct_check CHECK (length(secret_ct) BETWEEN 16 AND 256),
    last_step   bigint NOT NULL DEFAULT 0
        CONSTRAINT totp_factors_last_step_check CHECK (last_step >= 0),
    enabled_at  timestamptz NOT NULL
);

CREATE TABLE totp_enrollments (
    user_id     bigint NOT NULL
        CONSTRAINT totp_enrollments_pkey PRIMARY KEY
        CONSTRAINT totp_enrollments_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key_id      text   NOT NULL
        CONSTRAINT totp_enrollments_key_id_check CHECK (length(key_id) BETWEEN 1 AND 64),
    secret_ct   text   NOT NULL
        CONSTRAINT totp_enrollments_secret_ct_check CHECK (length(secret_ct) BETWEEN 16 AND 256),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT totp_enrollments_times_check CHECK (expires_at > created_at)
);

CREATE INDEX totp_enrollments_expires_at_idx ON totp_enrollments (expires_at);

CREATE TABLE recovery_codes (
    id          bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT recovery_codes_pkey PRIMARY KEY,
    user_id     bigint NOT NULL
        CONSTRAINT recovery_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_hash   text   NOT NULL
        CONSTRAINT recovery_codes_code_hash_key UNIQUE
        CONSTRAINT recovery_codes_code_hash_check CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL
);

CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

CREATE TABLE mfa_challenges (
    id            bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT mfa_challenges_pkey PRIMARY KEY,
    user_id       bigint NOT NULL
        CONSTRAINT mfa_challenges_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash    text   NOT NULL
        CONSTRAINT mfa_challenges_token_hash_key UNIQUE
        CONSTRAINT mfa_challenges_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    password_changed_at timestamptz NOT NULL,
    device_id     bigint NOT NULL DEFAULT 0,
    failures      bigint NOT NULL DEFAULT 0
        CONSTRAINT mfa_challenges_failures_check CHECK (failures >= 0),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    CONSTRAINT mfa_challenges_times_check CHECK (expires_at > created_at)
);

CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
