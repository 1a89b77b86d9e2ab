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
