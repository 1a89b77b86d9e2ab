-- Users and their password credentials (SQLite dialect).
--
-- Every rule that can live in the database lives here, so that a bug in Go (or
-- a hand-written INSERT) cannot store a row the service would refuse. Constraint
-- and index names are explicit: internal/database maps a violation to the field
-- it protects by that name.

CREATE TABLE users (
    -- AUTOINCREMENT: an id is never reused after a delete, so a stale reference
    -- held elsewhere can never point at somebody else's account.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Time-ordered UUID (version 7) for use outside the service.
    public_id  TEXT    NOT NULL
        CONSTRAINT users_public_id_key UNIQUE
        CONSTRAINT users_public_id_check CHECK (typeof(public_id) = 'text' AND length(public_id) = 36),
    -- Case-sensitive; NULL when the policy makes usernames optional. Printable
    -- ASCII ('!' to '~': no spaces, no control or non-ASCII characters) without
    -- '@', whatever the policy.
    username   TEXT
        CONSTRAINT users_username_key UNIQUE
        CONSTRAINT users_username_check CHECK (username IS NULL OR (typeof(username) = 'text' AND length(username) BETWEEN 1 AND 64 AND username NOT GLOB '*[^!-~]*' AND instr(username, '@') = 0)),
    -- Unique case-insensitively through users_email_lower_key below.
    email      TEXT    NOT NULL
        CONSTRAINT users_email_check CHECK (typeof(email) = 'text' AND length(email) BETWEEN 3 AND 254 AND instr(email, '@') > 1),
    -- E.164 ('+', a country code not starting with 0, 7 to 15 digits in all);
    -- NULL when absent.
    phone      TEXT
        CONSTRAINT users_phone_key UNIQUE
        CONSTRAINT users_phone_check CHECK (phone IS NULL OR (typeof(phone) = 'text' AND phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*' AND length(phone) BETWEEN 8 AND 16)),
    is_admin   BOOLEAN NOT NULL DEFAULT FALSE
        CONSTRAINT users_is_admin_check CHECK (is_admin IN (FALSE, TRUE)),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE credentials (
    id                  INTEGER PRIMARY KEY,
    -- Exactly one credential per user; it goes when the user goes.
    user_id             INTEGER NOT NULL
        CONSTRAINT credentials_user_id_key UNIQUE
        CONSTRAINT credentials_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    -- A bcrypt hash in modular crypt format ($2a$/$2b$/$2y$, 60 characters);
    -- never a plaintext password.
    password_hash       TEXT    NOT NULL
        CONSTRAINT credentials_password_hash_check CHECK (typeof(password_hash) = 'text' AND length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2'),
    password_changed_at DATETIME NOT NULL
);
