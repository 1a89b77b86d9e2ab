-- The audit trail, the login throttle and device tokens (SQLite dialect).

-- audit_events is append-only: the store inserts, PurgeExpired deletes the
-- oldest rows once they pass the retention, and nothing updates a row (a
-- trigger refuses it). It has no foreign key: an event outlives the user it
-- is about, whose id and public id it keeps.
CREATE TABLE audit_events (
    -- Assigned by the store from audit_chain.last_id, not by the engine:
    -- gapless, so a deleted row is a missing number.
    id             INTEGER PRIMARY KEY,
    occurred_at    DATETIME NOT NULL,
    -- An open set of names, "login.failed", "user.updated" (see auth.EventType).
    type           TEXT    NOT NULL
        CONSTRAINT audit_events_type_check CHECK (typeof(type) = 'text' AND length(type) BETWEEN 1 AND 64 AND type NOT GLOB '*[^a-z0-9._]*'),
    -- The user the event is about; NULL when there is none (a failed login
    -- that named no account).
    user_id        INTEGER,
    user_public_id TEXT    NOT NULL DEFAULT '',
    -- Who did it: the user themself, an administrator (actor_user_id), the
    -- system, an operating-system user (actor_name), or nobody known.
    actor_kind     TEXT    NOT NULL
        CONSTRAINT audit_events_actor_kind_check CHECK (actor_kind IN ('anonymous', 'user', 'admin', 'system', 'os')),
    actor_user_id  INTEGER,
    actor_name     TEXT    NOT NULL DEFAULT '',
    client_ip      TEXT    NOT NULL DEFAULT '',
    user_agent     TEXT    NOT NULL DEFAULT '',
    -- A small JSON object; never a password, hash, token or typed identifier.
    detail         TEXT    NOT NULL DEFAULT '{}'
        CONSTRAINT audit_events_detail_check CHECK (json_valid(detail) AND json_type(detail) = 'object'),
    -- SHA-256 of the previous event's hash and this event's fields: editing,
    -- removing or inserting a row breaks the chain (auth.VerifyAuditChain).
    prev_hash      TEXT    NOT NULL
        CONSTRAINT audit_events_prev_hash_check CHECK (length(prev_hash) = 64 AND prev_hash NOT GLOB '*[^0-9a-f]*'),
    hash           TEXT    NOT NULL
        CONSTRAINT audit_events_hash_check CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*')
);

-- A user's events, newest or oldest first, without a scan.
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
-- The retention purge and time-range reads.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- The head of the hash chain, one row. Every audited transaction advances it
-- (which serialises them on PostgreSQL for the moment before they commit);
-- the purge moves the anchor, the last event it deleted.
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY
        CONSTRAINT audit_chain_id_check CHECK (id = 1),
    last_id     INTEGER NOT NULL,
    last_hash   TEXT    NOT NULL,
    anchor_id   INTEGER NOT NULL,
    anchor_hash TEXT    NOT NULL
);

INSERT INTO audit_chain (id, last_id, last_hash, anchor_id, anchor_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Failure counters of the login, reset and password-change throttles. A
-- bucket is "login:u:<user id>", "login:d:<device id>", "login:i:<SHA-256 of
-- an identifier that names no account>", "reset:…", "change:u:<user id>":
-- never an identifier as typed (it could be a password typed in the wrong
-- box). No foreign key: a deleted account's counters expire like the rest.
CREATE TABLE throttles (
    bucket          TEXT    NOT NULL
        CONSTRAINT throttles_pkey PRIMARY KEY
        CONSTRAINT throttles_bucket_check CHECK (typeof(bucket) = 'text' AND length(bucket) BETWEEN 1 AND 128),
    -- Consecutive failures since the last success.
    failures        INTEGER NOT NULL
        CONSTRAINT throttles_failures_check CHECK (failures >= 0),
    -- The 24 hours that window_failures counts, from the first failure in them.
    window_start    DATETIME NOT NULL,
    window_failures INTEGER NOT NULL
        CONSTRAINT throttles_window_failures_check CHECK (window_failures >= 0),
    -- No attempt is evaluated before this time.
    locked_until    DATETIME NOT NULL,
    -- The locked_until whose refusal the audit trail has recorded: one
    -- "throttled" event per wait, however many attempts it refuses.
    logged_until    DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);

CREATE INDEX throttles_updated_at_idx ON throttles (updated_at);

-- Device tokens: a browser that logged in gets one (a cookie), and its
-- attempts are counted apart from everyone else's, so an attacker's failures
-- do not lock the owner out. Stored as the hex SHA-256, like session tokens.
CREATE TABLE devices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL
        CONSTRAINT devices_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL
        CONSTRAINT devices_token_hash_key UNIQUE
        CONSTRAINT devices_token_hash_check CHECK (typeof(token_hash) = 'text' AND length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    created_at    DATETIME NOT NULL,
    last_login_at DATETIME NOT NULL,
    -- last_login_at plus the device lifetime in force at that login.
    expires_at    DATETIME NOT NULL,
    CONSTRAINT devices_times_check CHECK (last_login_at >= created_at AND expires_at > last_login_at)
);

CREATE INDEX devices_user_id_idx ON devices (user_id);
CREATE INDEX devices_expires_at_idx ON devices (expires_at);
