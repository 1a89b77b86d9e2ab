-- One canonical form per email address (SQLite dialect).
--
-- Identity was lower(email) before, and the engines disagree on lower(): SQLite
-- folds ASCII only, PostgreSQL every letter its locale knows ('İ' to 'i'). It
-- is now users.email_canonical, computed in Go by internal/identity (Unicode
-- normalised, case folded, IDNA A-label domain; look-alikes refused), the same
-- on both engines. users.email keeps the address as typed, for display and
-- mail.
--
-- SQLite cannot add a NOT NULL column without a default to a table with rows,
-- nor a CHECK that existing rows fail; the column starts as '' and is filled
-- in by the Go step below before the unique index is built. The triggers hold
-- the CHECK that PostgreSQL's users_email_canonical_check holds.
ALTER TABLE users ADD COLUMN email_canonical TEXT NOT NULL DEFAULT '';

-- credstore:go backfill_email_canonical

DROP INDEX users_email_lower_key;
CREATE UNIQUE INDEX users_email_canonical_key ON users (email_canonical);

CREATE TRIGGER users_email_canonical_check_insert BEFORE INSERT ON users
WHEN NEW.email_canonical IS NOT NULL AND (typeof(NEW.email_canonical) <> 'text' OR length(NEW.email_canonical) NOT BETWEEN 3 AND 254)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_email_canonical_check');
END;

CREATE TRIGGER users_email_canonical_check_update BEFORE UPDATE OF email_canonical ON users
WHEN NEW.email_canonical IS NOT NULL AND (typeof(NEW.email_canonical) <> 'text' OR length(NEW.email_canonical) NOT BETWEEN 3 AND 254)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_email_canonical_check');
END;

-- A reset token is bound to the address it was mailed to: it works only
-- while that is still the account's address. Outstanding tokens (30 minutes
-- at most) were issued unbound and are dropped.
DELETE FROM password_resets;
ALTER TABLE password_resets ADD COLUMN email_canonical TEXT NOT NULL DEFAULT ''
    CONSTRAINT password_resets_email_canonical_check CHECK (typeof(email_canonical) = 'text' AND length(email_canonical) BETWEEN 3 AND 254);
