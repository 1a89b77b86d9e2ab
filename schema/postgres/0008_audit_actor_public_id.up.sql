-- The acting user's public id in each audit event (PostgreSQL dialect).
-- The twin of schema/sqlite/0008_audit_actor_public_id.up.sql, whose
-- comment explains it.
ALTER TABLE audit_events ADD COLUMN actor_public_id text NOT NULL DEFAULT '';

-- After a round trip (0008 down, then up) the public ids that the down file
-- kept go back into the events they came from; see the SQLite twin.
CREATE TABLE IF NOT EXISTS audit_actor_public_id_stash (
    event_id        bigint NOT NULL
        CONSTRAINT audit_actor_public_id_stash_pkey PRIMARY KEY,
    event_hash      text   NOT NULL,
    actor_public_id text   NOT NULL
);
ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit_events e
SET actor_public_id = s.actor_public_id
FROM audit_actor_public_id_stash s
WHERE s.event_id = e.id AND s.event_hash = e.hash;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;
DROP TABLE audit_actor_public_id_stash;
