-- One canonical form per email address (PostgreSQL dialect).
--
-- Identity was lower(email) before, and the engines disagree on lower(): SQLite
-- folds ASCII only, PostgreSQL every letter its locale knows ('İ' to 'i'). It
-- is now users.email_canonical, computed in Go by internal/identity (Unicode
-- normalised, case folded, IDNA A-label domain; look-alikes refused), the same
-- on both engines. users.email keeps the address as typed, for display and
-- mail. The Go step below fills the column in for existing rows.
ALTER TABLE users ADD COLUMN email_canonical text;

-- credstore:go backfill_email_canonical

ALTER TABLE users ALTER COLUMN email_canonical SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_email_canonical_check CHECK (length(email_canonical) BETWEEN 3 AND 254);
DROP INDEX users_email_lower_key;
CREATE UNIQUE INDEX users_email_canonical_key ON users (email_canonical);

-- A reset token is bound to the address it was mailed to: it works only
-- while that is still the account's address. Outstanding tokens (30 minutes
-- at most) were issued unbound and are dropped.
DELETE FROM password_resets;
ALTER TABLE password_resets ADD COLUMN email_canonical text NOT NULL
    CONSTRAINT password_resets_email_canonical_check CHECK (length(email_canonical) BETWEEN 3 AND 254);
