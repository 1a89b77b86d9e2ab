-- Users and their password credentials (PostgreSQL dialect).
--
-- The same tables, rules and names as schema/sqlite/0001_users.up.sql, in
-- PostgreSQL's own types. Constraint and index names are identical on both
-- engines: internal/database maps a violation to the field it protects by
-- that name. Where SQLite needs a typeof() check to keep a column's type,
-- PostgreSQL's column type does that job and the check is left out.

CREATE TABLE users (
    -- ALWAYS: ids come only from the sequence, so an id is never reused and
    -- a hand-written INSERT cannot put the sequence behind the table.
    id         bigint  GENERATED ALWAYS AS IDENTITY
        CONSTRAINT users_pkey PRIMARY KEY,
    -- Time-ordered UUID (version 7) for use outside the service. text, not
    -- uuid, so that a malformed id finds no user on both engines instead of
    -- failing with a type error on this one.
    public_id  text    NOT NULL
        CONSTRAINT users_public_id_key UNIQUE
        CONSTRAINT users_public_id_check CHECK (length(public_id) = 36),
    -- Case-sensitive; NULL when the policy makes usernames optional. Printable
    -- ASCII ('!' to '~': no spaces, no control or non-ASCII characters) without
    -- '@', whatever the policy. (Regex ranges compare code points, as SQLite's
    -- GLOB '*[^!-~]*' does, whatever the database's collation.)
    username   text
        CONSTRAINT users_username_key UNIQUE
        CONSTRAINT users_username_check CHECK (username IS NULL OR (length(username) BETWEEN 1 AND 64 AND username !~ '[^!-~]' AND strpos(username, '@') = 0)),
    -- Unique case-insensitively through users_email_lower_key below.
    email      text    NOT NULL
        CONSTRAINT users_email_check CHECK (length(email) BETWEEN 3 AND 254 AND strpos(email, '@') > 1),
    -- E.164 ('+', a country code not starting with 0, 7 to 15 digits in all);
    -- NULL when absent.
    phone      text
        CONSTRAINT users_phone_key UNIQUE
        CONSTRAINT users_phone_check CHECK (phone IS NULL OR (phone ~ '^[+][1-9][0-9]*$' AND length(phone) BETWEEN 8 AND 16)),
    -- boolean admits only TRUE and FALSE; SQLite needs users_is_admin_check
    -- for that.
    is_admin   boolean NOT NULL DEFAULT FALSE,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE credentials (
    id                  bigint  GENERATED ALWAYS AS IDENTITY
        CONSTRAINT credentials_pkey PRIMARY KEY,
    -- Exactly one credential per user; it goes when the user goes.
    user_id             bigint  NOT NULL
        CONSTRAINT credentials_user_id_key UNIQUE
        CONSTRAINT credentials_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    -- A bcrypt hash in modular crypt format ($2a$/$2b$/$2y$, 60 characters);
    -- never a plaintext password.
    password_hash       text    NOT NULL
        CONSTRAINT credentials_password_hash_check CHECK (length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2'),
    password_changed_at timestamptz NOT NULL
);
