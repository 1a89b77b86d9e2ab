-- credstore:drops every pending password reset: the links sent stop working
DELETE FROM password_resets;
ALTER TABLE password_resets DROP COLUMN email_canonical;
DROP TRIGGER users_email_canonical_check_update;
DROP TRIGGER users_email_canonical_check_insert;
DROP INDEX users_email_canonical_key;
ALTER TABLE users DROP COLUMN email_canonical;
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
