-- name: UpsertTOTPEnrollment :exec
-- A pending enrollment: the factor it will become is active only once the
-- user confirms a code (ConfirmTOTP). A new enrollment replaces the old.
INSERT INTO totp_enrollments (user_id, key_id, secret_ct, created_at, expires_at)
VALUES (@user_id, @key_id, @secret_ct, @now, @expires_at)
ON CONFLICT (user_id) DO UPDATE SET
    key_id = excluded.key_id,
    secret_ct = excluded.secret_ct,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at;

-- name: GetTOTPEnrollment :one
SELECT * FROM totp_enrollments WHERE user_id = @user_id;

-- name: ConsumeTOTPEnrollment :execrows
-- Spends the enrollment the code was checked against, if it is still the
-- user's and still live.
DELETE FROM totp_enrollments
WHERE user_id = @user_id AND secret_ct = @secret_ct AND expires_at > @now;

-- name: UpsertTOTPFactor :exec
-- Activates a factor, replacing the user's previous one.
INSERT INTO totp_factors (user_id, key_id, secret_ct, last_step, enabled_at)
VALUES (@user_id, @key_id, @secret_ct, @last_step, @now)
ON CONFLICT (user_id) DO UPDATE SET
    key_id = excluded.key_id,
    secret_ct = excluded.secret_ct,
    last_step = excluded.last_step,
    enabled_at = excluded.enabled_at;

-- name: GetTOTPFactor :one
SELECT * FROM totp_factors WHERE user_id = @user_id;

-- name: SpendTOTPStep :execrows
-- Replay protection in one conditional statement: a code's time step is
-- accepted only if it is later than the last one spent, for the factor the
-- code was checked against. Of two concurrent submissions of one code,
-- exactly one updates the row.
UPDATE totp_factors
SET last_step = @step
WHERE user_id = @user_id AND secret_ct = @secret_ct AND last_step < @step;

-- name: DeleteTOTPFactor :execrows
DELETE FROM totp_factors WHERE user_id = @user_id;

-- name: DeleteTOTPEnrollment :execrows
DELETE FROM totp_enrollments WHERE user_id = @user_id;

-- name: InsertRecoveryCode :exec
-- Recovery codes are stored as the hex SHA-256 of the code's normal form;
-- each has 80 random bits, so the hash cannot be reversed by trying codes.
INSERT INTO recovery_codes (user_id, code_hash, created_at)
VALUES (@user_id, @code_hash, @now);

-- name: SpendRecoveryCode :execrows
-- Single use in one statement: of two concurrent uses of one code, exactly
-- one deletes the row.
DELETE FROM recovery_codes
WHERE user_id = @user_id AND code_hash = @code_hash;

-- name: DeleteRecoveryCodes :execrows
DELETE FROM recovery_codes WHERE user_id = @user_id;

-- name: GetTwoFactorStatus :one
-- What GET /profile shows, in one round trip.
SELECT
    CAST((SELECT COUNT(*) FROM totp_factors WHERE totp_factors.user_id = @user_id) AS BIGINT) AS factors,
    CAST((SELECT COUNT(*) FROM totp_enrollments WHERE totp_enrollments.user_id = @user_id AND totp_enrollments.expires_at > @now) AS BIGINT) AS enrollments,
    CAST((SELECT COUNT(*) FROM recovery_codes WHERE recovery_codes.user_id = @user_id) AS BIGINT) AS recovery_codes;

-- name: CountRecoveryCodes :one
SELECT CAST(COUNT(*) AS BIGINT) AS n FROM recovery_codes WHERE user_id = @user_id;

-- name: CreateMFAChallenge :one
INSERT INTO mfa_challenges (user_id, token_hash, password_changed_at, device_id, failures, created_at, expires_at)
VALUES (@user_id, @token_hash, @password_changed_at, @device_id, 0, @now, @expires_at)
RETURNING *;

-- name: GetMFAChallenge :one
SELECT * FROM mfa_challenges WHERE token_hash = @token_hash;

-- name: FailMFAChallenge :execrows
-- Counts a wrong code against a live challenge.
UPDATE mfa_challenges
SET failures = failures + 1
WHERE id = @id AND failures < @max_failures AND expires_at > @now;

-- name: ConsumeMFAChallenge :execrows
-- Spends a live challenge: single use, whatever else races it.
DELETE FROM mfa_challenges
WHERE id = @id AND failures < @max_failures AND expires_at > @now;

-- name: DeleteUserMFAChallenges :execrows
DELETE FROM mfa_challenges WHERE user_id = @user_id;

-- name: PurgeMFAChallenges :execrows
DELETE FROM mfa_challenges WHERE expires_at <= @now;

-- name: PurgeTOTPEnrollments :execrows
DELETE FROM totp_enrollments WHERE expires_at <= @now;

-- name: ListTOTPFactorsToRekey :many
-- Factors whose secret is under another key than the current one.
SELECT user_id, key_id, secret_ct FROM totp_factors
WHERE key_id <> @current_key_id AND user_id > @after_user_id
ORDER BY user_id
LIMIT @max_rows;

-- name: RekeyTOTPFactor :execrows
UPDATE totp_factors
SET key_id = @key_id, secret_ct = @new_secret_ct
WHERE user_id = @user_id AND secret_ct = @old_secret_ct;

-- name: ListTOTPEnrollmentsToRekey :many
SELECT user_id, key_id, secret_ct FROM totp_enrollments
WHERE key_id <> @current_key_id AND user_id > @after_user_id
ORDER BY user_id
LIMIT @max_rows;

-- name: RekeyTOTPEnrollment :execrows
UPDATE totp_enrollments
SET key_id = @key_id, secret_ct = @new_secret_ct
WHERE user_id = @user_id AND secret_ct = @old_secret_ct;

-- name: CountSecretsByKey :many
-- The keys that encrypt stored TOTP secrets (factors and pending
-- enrollments), with how many each encrypts: a key file that lacks one of
-- them cannot verify those users' codes.
SELECT key_id, COUNT(*) AS secrets
FROM (
    SELECT key_id FROM totp_factors
    UNION ALL
    SELECT key_id FROM totp_enrollments
) AS stored
GROUP BY key_id
ORDER BY key_id;
