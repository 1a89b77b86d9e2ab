-- credstore:drops every session: everyone is signed out
-- credstore:drops every pending password reset: the links sent stop working
DROP INDEX password_resets_expires_at_idx;
DROP TABLE password_resets;
DROP INDEX sessions_expires_at_idx;
DROP INDEX sessions_user_id_idx;
DROP TABLE sessions;
