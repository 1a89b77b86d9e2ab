-- The acting user's public id in each audit event (SQLite dialect).
--
-- An event kept the public id of the user it is about, but only the
-- internal id of the user who acted (an administrator), which nothing
-- outside the store can name: the API and the command line name users by
-- public id. Like user_public_id, it is kept because the event outlives
-- the user. Events written before this migration have '' here, and their
-- hash does not cover the column (auth's eventFields): nothing rewrites
-- them, audit_events being append-only.
ALTER TABLE audit_events ADD COLUMN actor_public_id TEXT NOT NULL DEFAULT '';

-- After a round trip (0008 down, then up) the public ids that the down file
-- kept go back, each into the very event it came from: the same id and the
-- same hash, so that an event the retention purge deleted meanwhile, and
-- whose id a rebuilt trail gave to another, gets nothing. A database never
-- rolled back has no stash; the empty one made here keeps this file one
-- list of statements on every database. audit_events is append-only, so
-- its trigger stands aside for the restore, inside this migration's
-- transaction.
CREATE TABLE IF NOT EXISTS audit_actor_public_id_stash (
    event_id        INTEGER NOT NULL PRIMARY KEY,
    event_hash      TEXT    NOT NULL,
    actor_public_id TEXT    NOT NULL
);
DROP TRIGGER audit_events_append_only;
UPDATE audit_events
SET actor_public_id = (
    SELECT s.actor_public_id FROM audit_actor_public_id_stash s
    WHERE s.event_id = audit_events.id AND s.event_hash = audit_events.hash)
WHERE EXISTS (
    SELECT 1 FROM audit_actor_public_id_stash s
    WHERE s.event_id = audit_events.id AND s.event_hash = audit_events.hash);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
DROP TABLE audit_actor_public_id_stash;
