-- credstore:drops which accounts are disabled: every disabled account can log in again
ALTER TABLE users DROP COLUMN disabled_at;
