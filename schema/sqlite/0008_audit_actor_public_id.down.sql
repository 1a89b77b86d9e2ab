ALTER TABLE audit_events DROP COLUMN actor_public_id;
