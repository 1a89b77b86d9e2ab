-- name: CreateRefreshToken :exec
-- A refresh token of the session's family; stored only as its hex SHA-256.
INSERT INTO refresh_tokens (session_id, token_hash, created_at)
VALUES (@session_id, @token_hash, @now);

-- name: GetRefreshToken :one
-- A refresh token with its session and user, in one read by a unique index.
SELECT sqlc.embed(refresh_tokens), sqlc.embed(sessions), sqlc.embed(users)
FROM refresh_tokens
JOIN sessions ON sessions.id = refresh_tokens.session_id
JOIN users ON users.id = sessions.user_id
WHERE refresh_tokens.token_hash = @token_hash;

-- name: UseRefreshToken :execrows
-- Marks a live refresh token used. The condition makes it a compare-and-swap:
-- of two rotations racing for one token, one updates a row and the other none.
UPDATE refresh_tokens
SET used_at = @now
WHERE id = @id AND used_at IS NULL;

-- name: GetSessionByID :one
SELECT * FROM sessions
WHERE id = @id;

-- name: RefreshSession :execrows
-- A refresh is a use of its session: it moves the idle timeout.
UPDATE sessions
SET last_seen_at = @now
WHERE id = @id AND last_seen_at <= @now;

-- name: DeleteSessionByID :execrows
DELETE FROM sessions
WHERE id = @id;

-- name: GetTokenSessionProfile :one
-- What an access token's sid names, with its user and the user's
-- second-factor status (as GetSessionProfile): one read by primary key.
SELECT sqlc.embed(sessions), sqlc.embed(users),
    CAST((SELECT COUNT(*) FROM totp_factors WHERE totp_factors.user_id = sessions.user_id) AS BIGINT) AS factors,
    CAST((SELECT COUNT(*) FROM totp_enrollments WHERE totp_enrollments.user_id = sessions.user_id AND totp_enrollments.expires_at > @now) AS BIGINT) AS enrollments,
    CAST((SELECT COUNT(*) FROM recovery_codes WHERE recovery_codes.user_id = sessions.user_id) AS BIGINT) AS recovery_codes
FROM sessions
JOIN users ON users.id = sessions.user_id
WHERE sessions.id = @id;

-- name: CreateSigningKey :one
INSERT INTO signing_keys (kid, key_id, private_ct, public_key, state, created_at)
VALUES (@kid, @key_id, @private_ct, @public_key, 'active', @now)
RETURNING *;

-- name: GetActiveSigningKey :one
SELECT * FROM signing_keys
WHERE state = 'active';

-- name: ListSigningKeys :many
-- Every key that still verifies: the active one and the retired ones not yet
-- purged.
SELECT * FROM signing_keys
ORDER BY id;

-- name: RetireSigningKey :execrows
UPDATE signing_keys
SET state = 'retired', retired_at = @now
WHERE state = 'active';

-- name: PurgeSigningKeys :execrows
-- Retired keys every token of which has expired.
DELETE FROM signing_keys
WHERE state = 'retired' AND retired_at <= @retired_before;

-- name: ListSigningKeysToRekey :many
SELECT id, kid, key_id, private_ct FROM signing_keys
WHERE key_id <> @current_key_id AND id > @after_id
ORDER BY id
LIMIT @max_rows;

-- name: RekeySigningKey :execrows
UPDATE signing_keys
SET key_id = @key_id, private_ct = @new_private_ct
WHERE id = @id AND private_ct = @old_private_ct;
