-- name: UpsertPasswordReset :exec
-- Reset tokens are stored as the hex SHA-256 of the token's bytes.
-- One live token per user (password_resets_user_id_key): a new token
-- replaces the previous one in the same statement, so the old one stops
-- working at once and two concurrent requests cannot collide.
INSERT INTO password_resets (user_id, token_hash, created_at, expires_at)
VALUES (@user_id, @token_hash, @now, @expires_at)
ON CONFLICT (user_id) DO UPDATE SET
    token_hash = excluded.token_hash,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at;

-- name: ConsumePasswordReset :one
-- Spends a token in one conditional statement: only a live token of the user
-- with this email is deleted, and of two concurrent uses exactly one gets the
-- row back.
DELETE FROM password_resets
WHERE token_hash = @token_hash
  AND expires_at > @now
  AND user_id = (SELECT users.id FROM users WHERE lower(users.email) = lower(@email))
RETURNING user_id;

-- name: PurgePasswordResets :execrows
DELETE FROM password_resets
WHERE expires_at <= @now;
