package database

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTablesCreatedBy reads the tables that up files leave behind, without
// being fooled by comments, a table made and dropped again, or a rename.
func TestTablesCreatedBy(t *testing.T) {
	t.Parallel()
	got := tablesCreatedBy(
		"CREATE TABLE users (id bigint);\n-- CREATE TABLE not_a_table (x int)\nCREATE TABLE credentials (id bigint);",
		"CREATE TABLE IF NOT EXISTS stash (x int);\nALTER TABLE users DISABLE TRIGGER t;\nDROP TABLE stash;\nALTER TABLE credentials RENAME TO passwords;\nALTER TABLE users RENAME COLUMN a TO b;",
		"create table Sessions (id bigint); CREATE TABLE \"Quoted\" (x int);",
	)
	assert.Equal(t, []string{"users", "passwords", "sessions", "Quoted"}, got)

	// This build's own migrations: every table they create, once.
	ms, err := migrations(Postgres)
	require.NoError(t, err)
	var ups []string
	for _, m := range ms {
		ups = append(ups, m.Up)
	}
	tables := tablesCreatedBy(ups...)
	assert.Subset(t, tables, []string{"users", "credentials", "sessions", "password_resets", "audit_events", "audit_chain",
		"throttles", "devices", "totp_factors", "totp_enrollments", "recovery_codes", "mfa_challenges",
		"refresh_tokens", "signing_keys"})
}

// TestRuntimeGrantsSQLite: SQLite has no roles.
func TestRuntimeGrantsSQLite(t *testing.T) {
	t.Parallel()
	d, _ := openFile(t)
	_, err := d.RuntimeGrants(context.Background(), "app")
	assert.ErrorIs(t, err, ErrNoRoles)
}
