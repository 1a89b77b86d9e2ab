-- name: AdvanceAuditChain :one
-- Takes the next event id and the hash to chain it to. On PostgreSQL the
-- update holds the chain's one row until the transaction ends, so audited
-- transactions append one at a time; the store runs this last, just before
-- commit, to hold it for as short a time as it can.
UPDATE audit_chain
SET last_id = last_id + 1
WHERE id = 1
RETURNING last_id, last_hash;

-- name: SetAuditChainHash :exec
UPDATE audit_chain
SET last_hash = @last_hash
WHERE id = 1;

-- name: InsertAuditEvent :exec
INSERT INTO audit_events (
    id, occurred_at, type, user_id, user_public_id, actor_kind, actor_user_id,
    actor_public_id, actor_name, client_ip, user_agent, detail, prev_hash, hash
) VALUES (
    @id, @occurred_at, @type, sqlc.narg(user_id), @user_public_id, @actor_kind, sqlc.narg(actor_user_id),
    @actor_public_id, @actor_name, @client_ip, @user_agent, @detail, @prev_hash, @hash
);

-- name: GetAuditChain :one
SELECT * FROM audit_chain WHERE id = 1;

-- name: ListAuditEvents :many
-- Oldest first, after after_id (keyset). user_id 0 means every user; types is
-- a list of event types between commas (",login.failed,user.deleted,"), the empty string
-- meaning every type; replace() finds an exact, comma-delimited name on both
-- engines.
SELECT * FROM audit_events
WHERE id > @after_id
  AND (CAST(@user_id AS BIGINT) = 0 OR user_id = CAST(@user_id AS BIGINT))
  AND (CAST(@types AS TEXT) = '' OR replace(CAST(@types AS TEXT), ',' || type || ',', '') <> CAST(@types AS TEXT))
  AND occurred_at >= @since
  AND occurred_at < @until
ORDER BY id
LIMIT @max_rows;

-- name: ListAuditEventsDesc :many
-- ListAuditEvents newest first, before before_id.
SELECT * FROM audit_events
WHERE id < @before_id
  AND (CAST(@user_id AS BIGINT) = 0 OR user_id = CAST(@user_id AS BIGINT))
  AND (CAST(@types AS TEXT) = '' OR replace(CAST(@types AS TEXT), ',' || type || ',', '') <> CAST(@types AS TEXT))
  AND occurred_at >= @since
  AND occurred_at < @until
ORDER BY id DESC
LIMIT @max_rows;

-- name: LockAuditChain :execrows
-- The chain's row lock, for the purge, which moves the anchor.
UPDATE audit_chain SET last_id = last_id WHERE id = 1;

-- name: LastAuditEventBefore :one
-- The newest event that occurred before the cutoff, up to which the purge
-- deletes (every id at or below it, so the rest of the chain stays whole).
SELECT id, hash FROM audit_events
WHERE occurred_at < @before
ORDER BY id DESC
LIMIT 1;

-- name: AuditEventHash :one
SELECT hash FROM audit_events WHERE id = @id;

-- name: DeleteAuditEventsThrough :execrows
DELETE FROM audit_events
WHERE id <= @through_id AND id > @after_id;

-- name: SetAuditChainAnchor :exec
UPDATE audit_chain
SET anchor_id = @anchor_id, anchor_hash = @anchor_hash
WHERE id = 1;

-- name: AuditEventIDBounds :one
-- The number of events and the lowest id (0 when there is none), for
-- VerifyAuditChain: no row may lie at or below the chain's anchor.
SELECT CAST(COUNT(*) AS BIGINT) AS events, CAST(COALESCE(MIN(id), 0) AS BIGINT) AS min_id
FROM audit_events;
