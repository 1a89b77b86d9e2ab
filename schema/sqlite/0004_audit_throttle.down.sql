-- credstore:drops the audit trail
-- credstore:drops the login throttle's counters
-- credstore:drops every device token: known browsers are throttled with everyone else until they log in again
DROP INDEX devices_expires_at_idx;
DROP INDEX devices_user_id_idx;
DROP TABLE devices;
DROP INDEX throttles_updated_at_idx;
DROP TABLE throttles;
DROP TABLE audit_chain;
DROP TRIGGER audit_events_append_only;
DROP INDEX audit_events_occurred_at_idx;
DROP INDEX audit_events_user_id_idx;
DROP TABLE audit_events;
-- The actors' public ids that 0008's down file kept for the events dropped
-- above, if it ran.
DROP TABLE IF EXISTS audit_actor_public_id_stash;
