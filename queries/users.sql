-- name: CreateUser :one
-- email_canonical is internal/identity's canonical form of email, computed in
-- Go: the unique key of an address on both engines.
INSERT INTO users (public_id, username, email, email_canonical, phone, is_admin, created_at, updated_at)
VALUES (@public_id, sqlc.narg(username), @email, @email_canonical, sqlc.narg(phone), @is_admin, @now, @now)
RETURNING *;

-- name: ImportUser :one
-- CreateUser for users import: the public id and creation time that an
-- export brought (ImportUsers makes new ones for a row without them), and
-- updated_at the time of the import, which wrote the row.
INSERT INTO users (public_id, username, email, email_canonical, phone, is_admin, created_at, updated_at)
VALUES (@public_id, sqlc.narg(username), @email, @email_canonical, sqlc.narg(phone), @is_admin, @created_at, @now)
RETURNING *;

-- name: CreateCredential :exec
INSERT INTO credentials (user_id, password_hash, password_changed_at)
VALUES (@user_id, @password_hash, @now);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = @id;

-- name: GetUserByPublicID :one
SELECT * FROM users WHERE public_id = @public_id;

-- name: GetUserByUsername :one
SELECT * FROM users WHERE username = @username;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email_canonical = @email_canonical;

-- name: GetUserByPhone :one
SELECT * FROM users WHERE phone = @phone;

-- name: GetLoginByUsername :one
SELECT sqlc.embed(users), credentials.password_hash
FROM users
JOIN credentials ON credentials.user_id = users.id
WHERE users.username = @username;

-- name: GetLoginByEmail :one
SELECT sqlc.embed(users), credentials.password_hash
FROM users
JOIN credentials ON credentials.user_id = users.id
WHERE users.email_canonical = @email_canonical;

-- name: GetCredential :one
SELECT password_hash, password_changed_at FROM credentials WHERE user_id = @user_id;

-- name: GetPasswordHash :one
SELECT password_hash FROM credentials WHERE user_id = @user_id;

-- name: ListUsers :many
-- Keyset pagination: pass the last id of the previous page (0 for the first).
-- admins_only keeps the administrators; with search, only the users whose
-- canonical email or lower-cased username starts with prefix (of prefix_len
-- characters: substr, not LIKE, so that no character of it is a wildcard
-- on either engine).
SELECT * FROM users
WHERE id > @after_id
  AND (NOT CAST(@admins_only AS BOOLEAN) OR is_admin)
  AND (NOT CAST(@search AS BOOLEAN)
       OR substr(email_canonical, 1, CAST(@prefix_len AS INTEGER)) = CAST(@prefix AS TEXT)
       OR substr(lower(username), 1, CAST(@prefix_len AS INTEGER)) = CAST(@prefix AS TEXT))
ORDER BY id
LIMIT @max_rows;

-- name: ListUsersByPublicID :many
-- Keyset pagination in public-id order, through users_public_id_key: pass the
-- last public id of the previous page ('' for the first, which sorts before
-- every id). Public ids are unique, so no two rows tie. They are written in
-- one layout (lower-case hex with hyphens at fixed places), in which any
-- collation orders them as their bytes do: the engine's default is kept, so
-- the unique index serves the scan.
SELECT * FROM users
WHERE public_id > @after_public_id
  AND (NOT CAST(@admins_only AS BOOLEAN) OR is_admin)
  AND (NOT CAST(@search AS BOOLEAN)
       OR substr(email_canonical, 1, CAST(@prefix_len AS INTEGER)) = CAST(@prefix AS TEXT)
       OR substr(lower(username), 1, CAST(@prefix_len AS INTEGER)) = CAST(@prefix AS TEXT))
ORDER BY public_id
LIMIT @max_rows;

-- name: ListUsersWithHashes :many
-- ListUsers with each user's password hash, for an export that keeps
-- passwords. LEFT JOIN: a user without a credential is listed all the same
-- (with a NULL hash) rather than silently left out.
SELECT sqlc.embed(users), credentials.password_hash
FROM users
LEFT JOIN credentials ON credentials.user_id = users.id
WHERE users.id > @after_id
ORDER BY users.id
LIMIT @max_rows;

-- name: UpdateUser :one
-- Each field changes only when its set_ flag is true, so one statement applies
-- a partial update atomically on both engines without a read-then-write.
UPDATE users SET
    username   = CASE WHEN CAST(@set_username AS BOOLEAN) THEN CAST(sqlc.narg(username) AS TEXT) ELSE username END,
    email      = CASE WHEN CAST(@set_email AS BOOLEAN) THEN CAST(@email AS TEXT) ELSE email END,
    email_canonical = CASE WHEN CAST(@set_email AS BOOLEAN) THEN CAST(@email_canonical AS TEXT) ELSE email_canonical END,
    phone      = CASE WHEN CAST(@set_phone AS BOOLEAN) THEN CAST(sqlc.narg(phone) AS TEXT) ELSE phone END,
    is_admin   = CASE WHEN CAST(@set_is_admin AS BOOLEAN) THEN CAST(@is_admin AS BOOLEAN) ELSE is_admin END,
    updated_at = @now
WHERE id = @id
RETURNING *;

-- name: SetPasswordHash :execrows
UPDATE credentials
SET password_hash = @password_hash, password_changed_at = @now
WHERE user_id = @user_id;

-- name: ReplacePasswordHash :execrows
-- Compare-and-swap: replaces the hash only if it is still the one the caller
-- verified, so a rehash or password change never overwrites a change that
-- committed in between.
UPDATE credentials
SET password_hash = @new_hash, password_changed_at = @now
WHERE user_id = @user_id AND password_hash = @old_hash;

-- name: RehashPassword :execrows
-- Upgrades the hash of an unchanged password to a higher bcrypt cost. Like
-- ReplacePasswordHash it is a compare-and-swap; password_changed_at stays.
UPDATE credentials
SET password_hash = @new_hash
WHERE user_id = @user_id AND password_hash = @old_hash;

-- name: TouchUser :execrows
-- Like LockUser, it takes the user's row lock first.
UPDATE users SET updated_at = @now WHERE id = @id;

-- name: LockUser :execrows
-- Takes the user's row lock and reports whether the user exists. Every
-- transaction that writes a user's credential, sessions or reset token
-- begins with it (or with TouchUser or UpdateUser, which lock the same row),
-- so that on PostgreSQL they wait for each other in one order, users first,
-- as DeleteUser's cascade does: no deadlock between them, and a transaction
-- that waited sees what the other committed (READ COMMITTED re-reads per
-- statement). On SQLite the IMMEDIATE transaction already serialises them.
UPDATE users SET updated_at = updated_at WHERE id = @id;

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = @id;

-- name: SetUserDisabled :one
-- Disables (disabled_at a time) or enables (NULL) the user. The caller has
-- locked the row (LockUser).
UPDATE users SET disabled_at = sqlc.narg(disabled_at), updated_at = @now
WHERE id = @id
RETURNING *;
