-- Password hashes of other algorithms (SQLite dialect).
--
-- credentials.password_hash holds a bcrypt hash ($2a$/$2b$/$2y$, 60
-- characters), an Argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash),
-- or an imported Argon2 hash of the password followed by a separate salt
-- ($credstore-salted$<salt>$argon2id$…, see auth/password.go), which the
-- user's first login replaces with a hash of the store's algorithm. Never a
-- plaintext password. SQLite cannot change a CHECK constraint in place, so
-- the table is rebuilt; no table references credentials.
CREATE TABLE credentials_next (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL
        CONSTRAINT credentials_user_id_key UNIQUE
        CONSTRAINT credentials_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    password_hash       TEXT    NOT NULL
        CONSTRAINT credentials_password_hash_check CHECK (typeof(password_hash) = 'text' AND (
            (length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2')
            OR (substr(password_hash, 1, 10) = '$argon2id$' AND length(password_hash) <= 512)
            OR (substr(password_hash, 1, 18) = '$credstore-salted$' AND length(password_hash) <= 1024))),
    password_changed_at DATETIME NOT NULL
);

INSERT INTO credentials_next (id, user_id, password_hash, password_changed_at)
    SELECT id, user_id, password_hash, password_changed_at FROM credentials;

DROP TABLE credentials;

ALTER TABLE credentials_next RENAME TO credentials;
