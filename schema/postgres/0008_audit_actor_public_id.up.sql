-- The acting user's public id in each audit event (PostgreSQL dialect).
-- The twin of schema/sqlite/0008_audit_actor_public_id.up.sql, whose
-- comment explains it.
ALTER TABLE audit_events ADD COLUMN actor_public_id text NOT NULL DEFAULT '';
