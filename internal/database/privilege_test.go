package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestRuntimeRoleOpensMigratedDatabase: a PostgreSQL role with only the
// grants docs/postgres.md lists for the runtime (no CREATE on the schema)
// opens a database its owner has migrated, and works in it. Open used to run
// CREATE TABLE IF NOT EXISTS schema_migrations first, which that role may
// not.
func TestRuntimeRoleOpensMigratedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.EmptyDSN(t, database.Postgres)
	owner, err := database.Open(ctx, dsn) // migrates
	require.NoError(t, err)
	t.Cleanup(func() { owner.Close() })
	raw := owner.SQL()

	var canCreateRole bool
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&canCreateRole))
	if !canCreateRole {
		msg := "the test role needs CREATEROLE (ALTER ROLE ... CREATEROLE) to make a least-privilege role"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	role, password := "credstore_rt_"+hex.EncodeToString(b[:]), hex.EncodeToString(b[:])+"-pw"
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + role,
	} {
		_, err := raw.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		// The role owns nothing; revoke its grants so that it can go.
		for _, stmt := range []string{
			"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + role,
			"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM " + role,
			"REVOKE ALL ON SCHEMA public FROM " + role,
			"DROP ROLE " + role,
		} {
			if _, err := raw.ExecContext(context.Background(), stmt); err != nil {
				t.Logf("%s: %v", stmt, err)
			}
		}
	})

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	rt, err := database.Open(ctx, u.String())
	require.NoError(t, err, "a runtime role opens a migrated database")
	defer rt.Close()
	var created bool
	require.NoError(t, rt.SQL().QueryRowContext(ctx, "SELECT has_schema_privilege('public', 'CREATE')").Scan(&created))
	assert.False(t, created, "the role really cannot create tables")
	_, err = rt.SQL().ExecContext(ctx, `INSERT INTO users (public_id, email, email_canonical, is_admin, created_at, updated_at)
		VALUES ('00000000-0000-7000-8000-000000000001', 'a@example.com', 'a@example.com', FALSE, now(), now())`)
	assert.NoError(t, err, "and writes")
	var n int
	require.NoError(t, rt.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
	assert.Equal(t, 1, n)
}
