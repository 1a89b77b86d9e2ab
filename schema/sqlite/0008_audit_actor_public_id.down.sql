-- credstore:note a release from before 0008 reports the events that name their actor by public id as not matching their hash (audit verify) until the database is migrated up again
-- Rolls 0008 back without losing the actors' public ids. The hash of every
-- event written with one covers it (auth's eventFields), so an event that
-- came back from a round trip without it would no longer verify: a false
-- tamper alarm. They wait in audit_actor_public_id_stash, each beside its
-- event's id and hash, until 0008's up file puts them back; 0004's down
-- file, which drops the events themselves, drops it too.
--
-- A release from before 0008 does not know the column: its hash leaves it
-- out, hence the note above.
CREATE TABLE audit_actor_public_id_stash (
    event_id        INTEGER NOT NULL PRIMARY KEY,
    event_hash      TEXT    NOT NULL,
    actor_public_id TEXT    NOT NULL
);
INSERT INTO audit_actor_public_id_stash (event_id, event_hash, actor_public_id)
SELECT id, hash, actor_public_id FROM audit_events WHERE actor_public_id <> '';
ALTER TABLE audit_events DROP COLUMN actor_public_id;
