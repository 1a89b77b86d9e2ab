-- name: UpsertPasswordReset :exec
-- Reset tokens are stored as the hex SHA-256 of the token's bytes, bound to
-- the canonical address they were sent to. One live token per user
-- (password_resets_user_id_key): a new token replaces the previous one in the
-- same statement, so the old one stops working at once and two concurrent
-- requests cannot collide.
INSERT INTO password_resets (user_id, token_hash, email_canonical, created_at, expires_at)
VALUES (@user_id, @token_hash, @email_canonical, @now, @expires_at)
ON CONFLICT (user_id) DO UPDATE SET
    token_hash = excluded.token_hash,
    email_canonical = excluded.email_canonical,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at;

-- name: GetPasswordReset :one
-- The cheap check before the slow work: ResetPassword hashes the new
-- password only for a token that exists, then spends it with
-- ConsumePasswordReset, which checks everything again.
SELECT * FROM password_resets
WHERE token_hash = @token_hash;

-- name: ConsumePasswordReset :one
-- Spends a token in one conditional statement: only a live token (issued no
-- later than issued_before, expiring after now) of this user, mailed to the
-- address the account still has, is deleted; of two concurrent uses exactly
-- one gets the row back.
DELETE FROM password_resets
WHERE password_resets.token_hash = @token_hash
  AND password_resets.user_id = @user_id
  AND password_resets.expires_at > @now
  AND password_resets.created_at <= @issued_before
  AND password_resets.email_canonical = @email_canonical
  AND password_resets.email_canonical = (SELECT users.email_canonical FROM users WHERE users.id = @user_id)
RETURNING password_resets.user_id;

-- name: DeleteUserPasswordResets :execrows
DELETE FROM password_resets
WHERE user_id = @user_id;

-- name: PurgePasswordResets :execrows
DELETE FROM password_resets
WHERE expires_at <= @now;
