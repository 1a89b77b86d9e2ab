-- credstore:drops every Argon2id password hash: those users must reset their password
-- Back to bcrypt hashes only (SQLite dialect). A hash of another algorithm
-- is replaced by a bcrypt-shaped one that no password matches.
UPDATE credentials SET password_hash = '$2a$12$.....................................................' WHERE substr(password_hash, 1, 2) <> '$2';

CREATE TABLE credentials_prev (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL
        CONSTRAINT credentials_user_id_key UNIQUE
        CONSTRAINT credentials_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    password_hash       TEXT    NOT NULL
        CONSTRAINT credentials_password_hash_check CHECK (typeof(password_hash) = 'text' AND length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2'),
    password_changed_at DATETIME NOT NULL
);

INSERT INTO credentials_prev (id, user_id, password_hash, password_changed_at)
    SELECT id, user_id, password_hash, password_changed_at FROM credentials;

DROP TABLE credentials;

ALTER TABLE credentials_prev RENAME TO credentials;
