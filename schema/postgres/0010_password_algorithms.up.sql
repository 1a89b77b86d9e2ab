-- Password hashes of other algorithms (PostgreSQL dialect).
--
-- credentials.password_hash holds a bcrypt hash ($2a$/$2b$/$2y$, 60
-- characters), an Argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash),
-- or an imported Argon2 hash of the password followed by a separate salt
-- ($credstore-salted$<salt>$argon2id$…, see auth/password.go), which the
-- user's first login replaces with a hash of the store's algorithm. Never a
-- plaintext password.
ALTER TABLE credentials
    DROP CONSTRAINT credentials_password_hash_check,
    ADD CONSTRAINT credentials_password_hash_check CHECK (
        (length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2')
        OR (substr(password_hash, 1, 10) = '$argon2id$' AND length(password_hash) <= 512)
        OR (substr(password_hash, 1, 18) = '$credstore-salted$' AND length(password_hash) <= 1024));
