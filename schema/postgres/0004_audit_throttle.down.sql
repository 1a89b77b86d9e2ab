DROP TABLE devices;
DROP TABLE throttles;
DROP TABLE audit_chain;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE audit_events;
