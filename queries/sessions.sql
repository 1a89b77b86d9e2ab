-- name: CreateSession :one
-- Every session query finds a token by the hex SHA-256 of its bytes; the
-- token itself never reaches the database.
INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at)
VALUES (@user_id, @token_hash, @now, @now, @expires_at)
RETURNING *;

-- name: GetSessionUser :one
-- The hot path of every authenticated request: one read by a unique index.
-- Expiry is decided in Go from the returned times, so this stays a pure read.
SELECT sqlc.embed(sessions), sqlc.embed(users)
FROM sessions
JOIN users ON users.id = sessions.user_id
WHERE sessions.token_hash = @token_hash;

-- name: TouchSession :execrows
-- Idle-timeout bookkeeping. The condition makes it a no-op unless
-- last_seen_at is older than stale_before (now minus one minute), so a
-- session is written at most once a minute however many requests race here.
UPDATE sessions
SET last_seen_at = @now
WHERE id = @id AND last_seen_at <= @stale_before;

-- name: DeleteSessionByTokenHash :one
DELETE FROM sessions
WHERE token_hash = @token_hash
RETURNING *;

-- name: ListUserSessions :many
SELECT * FROM sessions
WHERE user_id = @user_id
ORDER BY id;

-- name: DeleteUserSession :execrows
DELETE FROM sessions
WHERE id = @id AND user_id = @user_id;

-- name: DeleteUserSessions :execrows
DELETE FROM sessions
WHERE user_id = @user_id;

-- name: DeleteOtherUserSessions :execrows
-- Every session of the user but keep_id (0 keeps none).
DELETE FROM sessions
WHERE user_id = @user_id AND id <> @keep_id;

-- name: PurgeSessions :execrows
-- Removes sessions past their absolute lifetime or idle for too long.
DELETE FROM sessions
WHERE expires_at <= @now OR last_seen_at <= @idle_before;

-- name: GetSessionProfile :one
-- GetSessionUser with the user's second-factor status, for a profile page:
-- one round trip instead of two.
SELECT sqlc.embed(sessions), sqlc.embed(users),
    CAST((SELECT COUNT(*) FROM totp_factors WHERE totp_factors.user_id = sessions.user_id) AS BIGINT) AS factors,
    CAST((SELECT COUNT(*) FROM totp_enrollments WHERE totp_enrollments.user_id = sessions.user_id AND totp_enrollments.expires_at > @now) AS BIGINT) AS enrollments,
    CAST((SELECT COUNT(*) FROM recovery_codes WHERE recovery_codes.user_id = sessions.user_id) AS BIGINT) AS recovery_codes
FROM sessions
JOIN users ON users.id = sessions.user_id
WHERE sessions.token_hash = @token_hash;

-- name: LockLiveSession :execrows
-- Takes the row lock of a user's session and reports whether it is there
-- and within its lifetime. An operation done through the session
-- (auth.Actor.SessionID) holds the lock until it commits, so that a logout
-- or revocation of the session, which deletes the row, waits for it. The
-- cache of session lookups does not watch last_seen_at (0007), so setting
-- it to itself notifies nothing.
UPDATE sessions SET last_seen_at = last_seen_at
WHERE id = @id AND user_id = @user_id AND expires_at > @now;
