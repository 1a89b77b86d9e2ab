-- The change counter behind the cache of session lookups (SQLite dialect).
--
-- A store remembers, per process, the sessions it looked up (auth's
-- sessionCache) and forgets them at once when it writes itself. What other
-- connections write (the admin command line, another process, an
-- application's transaction) it learns from auth_changes: every change to
-- what a session lookup reads (the user, the session, the second factor)
-- adds one to n, in the transaction that makes it, so a store that reads a
-- new n knows that something it may have remembered changed. Recording a
-- session's use (last_seen_at) is not such a change: the cache keeps the
-- time it read and looks again once that time is old.

CREATE TABLE auth_changes (
    id INTEGER PRIMARY KEY CONSTRAINT auth_changes_id_check CHECK (id = 1),
    n  INTEGER NOT NULL
);

INSERT INTO auth_changes (id, n) VALUES (1, 0);

CREATE TRIGGER users_changed_insert AFTER INSERT ON users
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_update AFTER UPDATE ON users
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_delete AFTER DELETE ON users
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER sessions_changed_insert AFTER INSERT ON sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sessions_changed_update AFTER UPDATE OF id, user_id, token_hash, created_at, expires_at ON sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sessions_changed_delete AFTER DELETE ON sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER totp_factors_changed_insert AFTER INSERT ON totp_factors
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER totp_factors_changed_update AFTER UPDATE ON totp_factors
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER totp_factors_changed_delete AFTER DELETE ON totp_factors
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER totp_enrollments_changed_insert AFTER INSERT ON totp_enrollments
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER totp_enrollments_changed_update AFTER UPDATE ON totp_enrollments
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER totp_enrollments_changed_delete AFTER DELETE ON totp_enrollments
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER recovery_codes_changed_insert AFTER INSERT ON recovery_codes
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER recovery_codes_changed_update AFTER UPDATE ON recovery_codes
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER recovery_codes_changed_delete AFTER DELETE ON recovery_codes
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
