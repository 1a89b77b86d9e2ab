-- Disabled accounts (PostgreSQL dialect). The twin of
-- schema/sqlite/0009_user_disabled.up.sql, whose comment explains it.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
