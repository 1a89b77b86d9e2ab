-- credstore:note a release from before 0008 reports the events that name their actor by public id as not matching their hash (audit verify) until the database is migrated up again
-- Rolls 0008 back without losing the actors' public ids (PostgreSQL
-- dialect). The twin of schema/sqlite/0008_audit_actor_public_id.down.sql,
-- whose comment explains it.
CREATE TABLE audit_actor_public_id_stash (
    event_id        bigint NOT NULL
        CONSTRAINT audit_actor_public_id_stash_pkey PRIMARY KEY,
    event_hash      text   NOT NULL,
    actor_public_id text   NOT NULL
);
INSERT INTO audit_actor_public_id_stash (event_id, event_hash, actor_public_id)
SELECT id, hash, actor_public_id FROM audit_events WHERE actor_public_id <> '';
ALTER TABLE audit_events DROP COLUMN actor_public_id;
