-- What tells the cache of session lookups about changes (PostgreSQL
-- dialect). The twin of schema/sqlite/0007_session_cache.up.sql, which
-- explains the cache, with the same triggers; here they notify the channel
-- credstore_auth_changed, on which every instance listens
-- (internal/database.Watcher), when their transaction commits. They fire
-- once per statement, and the notifications of one transaction with the
-- same payload are sent once, so a statement that deletes a thousand
-- sessions sends one. Emptying a table (TRUNCATE) notifies as DELETE does.

CREATE FUNCTION credstore_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('credstore_auth_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed_insert AFTER INSERT ON users
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER users_changed_update AFTER UPDATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER users_changed_delete AFTER DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();

CREATE TRIGGER sessions_changed_insert AFTER INSERT ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
-- Not last_seen_at, the use a session records at most once a minute.
CREATE TRIGGER sessions_changed_update AFTER UPDATE OF id, user_id, token_hash, created_at, expires_at ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER sessions_changed_delete AFTER DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();

CREATE TRIGGER totp_factors_changed_insert AFTER INSERT ON totp_factors
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER totp_factors_changed_update AFTER UPDATE ON totp_factors
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER totp_factors_changed_delete AFTER DELETE OR TRUNCATE ON totp_factors
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();

CREATE TRIGGER totp_enrollments_changed_insert AFTER INSERT ON totp_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER totp_enrollments_changed_update AFTER UPDATE ON totp_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER totp_enrollments_changed_delete AFTER DELETE OR TRUNCATE ON totp_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();

CREATE TRIGGER recovery_codes_changed_insert AFTER INSERT ON recovery_codes
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER recovery_codes_changed_update AFTER UPDATE ON recovery_codes
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
CREATE TRIGGER recovery_codes_changed_delete AFTER DELETE OR TRUNCATE ON recovery_codes
    FOR EACH STATEMENT EXECUTE FUNCTION credstore_auth_changed();
