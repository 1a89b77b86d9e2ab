-- credstore:drops the audit trail
-- credstore:drops the login throttle's counters
-- credstore:drops every device token: known browsers are throttled with everyone else until they log in again
DROP TABLE devices;
DROP TABLE throttles;
DROP TABLE audit_chain;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE audit_events;
-- The actors' public ids that 0008's down file kept for the events dropped
-- above, if it ran.
DROP TABLE IF EXISTS audit_actor_public_id_stash;
