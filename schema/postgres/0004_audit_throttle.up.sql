-- The audit trail, the login throttle and device tokens (PostgreSQL
-- dialect). The twin of schema/sqlite/0004_audit_throttle.up.sql; the
-- comments there explain each table.

CREATE TABLE audit_events (
    id             bigint NOT NULL
        CONSTRAINT audit_events_pkey PRIMARY KEY,
    occurred_at    timestamptz NOT NULL,
    type           text   NOT NULL
        CONSTRAINT audit_events_type_check CHECK (type ~ '^[a-z0-9._]{1,64}$'),
    user_id        bigint,
    user_public_id text   NOT NULL DEFAULT '',
    actor_kind     text   NOT NULL
        CONSTRAINT audit_events_actor_kind_check CHECK (actor_kind IN ('anonymous', 'user', 'admin', 'system', 'os')),
    actor_user_id  bigint,
    actor_name     text   NOT NULL DEFAULT '',
    client_ip      text   NOT NULL DEFAULT '',
    user_agent     text   NOT NULL DEFAULT '',
    -- text, not jsonb: the hash covers the bytes as written, which jsonb
    -- would reorder.
    detail         text   NOT NULL DEFAULT '{}'
        CONSTRAINT audit_events_detail_check CHECK (jsonb_typeof(detail::jsonb) = 'object'),
    prev_hash      text   NOT NULL
        CONSTRAINT audit_events_prev_hash_check CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash           text   NOT NULL
        CONSTRAINT audit_events_hash_check CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE audit_chain (
    id          bigint NOT NULL
        CONSTRAINT audit_chain_pkey PRIMARY KEY
        CONSTRAINT audit_chain_id_check CHECK (id = 1),
    last_id     bigint NOT NULL,
    last_hash   text   NOT NULL,
    anchor_id   bigint NOT NULL,
    anchor_hash text   NOT NULL
);

INSERT INTO audit_chain (id, last_id, last_hash, anchor_id, anchor_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE throttles (
    bucket          text   NOT NULL
        CONSTRAINT throttles_pkey PRIMARY KEY
        CONSTRAINT throttles_bucket_check CHECK (length(bucket) BETWEEN 1 AND 128),
    failures        bigint NOT NULL
        CONSTRAINT throttles_failures_check CHECK (failures >= 0),
    window_start    timestamptz NOT NULL,
    window_failures bigint NOT NULL
        CONSTRAINT throttles_window_failures_check CHECK (window_failures >= 0),
    locked_until    timestamptz NOT NULL,
    logged_until    timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX throttles_updated_at_idx ON throttles (updated_at);

CREATE TABLE devices (
    id            bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT devices_pkey PRIMARY KEY,
    user_id       bigint NOT NULL
        CONSTRAINT devices_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash    text   NOT NULL
        CONSTRAINT devices_token_hash_key UNIQUE
        CONSTRAINT devices_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    CONSTRAINT devices_times_check CHECK (last_login_at >= created_at AND expires_at > last_login_at)
);

CREATE INDEX devices_user_id_idx ON devices (user_id);
CREATE INDEX devices_expires_at_idx ON devices (expires_at);
