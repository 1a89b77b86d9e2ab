-- name: GetThrottle :one
-- The cheap check before any work: a bucket locked until later refuses the
-- attempt without a write.
SELECT * FROM throttles WHERE bucket = @bucket;

-- name: LockThrottle :one
-- Creates the bucket if it is new and returns it; on PostgreSQL the row stays
-- locked until the transaction ends, so concurrent attempts on one bucket are
-- counted one after the other and none slips past the limit. A new bucket is
-- locked until (and has logged until) @unlocked, a time long past: were it
-- @now, a concurrent attempt whose clock was read a moment earlier would
-- find it waiting.
INSERT INTO throttles (bucket, failures, window_start, window_failures, locked_until, logged_until, updated_at)
VALUES (@bucket, 0, @now, 0, @unlocked, @unlocked, @now)
ON CONFLICT (bucket) DO UPDATE SET failures = throttles.failures
RETURNING *;

-- name: UpdateThrottle :exec
UPDATE throttles
SET failures = @failures, window_start = @window_start, window_failures = @window_failures,
    locked_until = @locked_until, updated_at = @now
WHERE bucket = @bucket;

-- name: MarkThrottleLogged :execrows
-- Claims the right to record the refusals of the bucket's current wait, once.
UPDATE throttles
SET logged_until = locked_until
WHERE bucket = @bucket AND logged_until < locked_until;

-- name: DeleteThrottle :exec
DELETE FROM throttles WHERE bucket = @bucket;

-- name: PurgeThrottles :execrows
-- Buckets no longer waiting and idle for a whole window.
DELETE FROM throttles
WHERE locked_until <= @now AND updated_at <= @idle_before;

-- name: GetDevice :one
SELECT * FROM devices WHERE token_hash = @token_hash;

-- name: CreateDevice :one
INSERT INTO devices (user_id, token_hash, created_at, last_login_at, expires_at)
VALUES (@user_id, @token_hash, @now, @now, @expires_at)
RETURNING *;

-- name: RenewDevice :execrows
UPDATE devices
SET last_login_at = @now, expires_at = @expires_at
WHERE id = @id AND user_id = @user_id AND expires_at > @now;

-- name: TrimUserDevices :execrows
-- Keeps a user's newest devices only, so that logging in again and again
-- without the cookie cannot grow the table without bound.
DELETE FROM devices
WHERE devices.user_id = @user_id
  AND devices.id NOT IN (SELECT kept.id FROM devices AS kept WHERE kept.user_id = @user_id ORDER BY kept.id DESC LIMIT @keep);

-- name: PurgeDevices :execrows
DELETE FROM devices WHERE expires_at <= @now;
