-- Disabled accounts (SQLite dialect).
--
-- disabled_at is when an administrator disabled the account (auth's
-- DisableUser), NULL while it is enabled. A disabled account keeps all its
-- data; it cannot log in, refresh tokens or reset its password. The reason
-- given is kept only in the audit trail (the user.disabled event), which
-- also says who disabled it: one place for the why and the who, and the
-- row holds only the state every login checks.
ALTER TABLE users ADD COLUMN disabled_at DATETIME;
