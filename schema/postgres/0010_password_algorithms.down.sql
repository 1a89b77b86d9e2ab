-- credstore:drops every Argon2id password hash: those users must reset their password
-- Back to bcrypt hashes only (PostgreSQL dialect). A hash of another
-- algorithm is replaced by a bcrypt-shaped one that no password matches.
UPDATE credentials SET password_hash = '$2a$12$.....................................................' WHERE substr(password_hash, 1, 2) <> '$2';

ALTER TABLE credentials
    DROP CONSTRAINT credentials_password_hash_check,
    ADD CONSTRAINT credentials_password_hash_check CHECK (length(password_hash) = 60 AND substr(password_hash, 1, 2) = '$2');
