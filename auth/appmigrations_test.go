package auth_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
	"github.com/credstore/credstore/schema"
)

// appMigrations is an application's embedded migrations on both engines:
// an orgs table owned by a user, then a column added to it. extra files
// are added to both engines' directories.
func appMigrations(extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	add := func(name, body string) { fsys[name] = &fstest.MapFile{Data: []byte(body)} }
	for engine, id := range map[string]string{
		"sqlite":   "INTEGER PRIMARY KEY",
		"postgres": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	} {
		add(engine+"/0001_orgs.up.sql", `CREATE TABLE orgs (
			id      `+id+`,
			user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			name    text NOT NULL
		);`)
		add(engine+"/0001_orgs.down.sql", "DROP TABLE orgs;")
		add(engine+"/0002_org_slug.up.sql", "ALTER TABLE orgs ADD COLUMN slug text;")
		add(engine+"/0002_org_slug.down.sql", "ALTER TABLE orgs DROP COLUMN slug;")
		for name, body := range extra {
			add(engine+"/"+name, body)
		}
	}
	return fsys
}

func withAppMigrations(fsys fstest.MapFS) func(*auth.Config) {
	return func(c *auth.Config) { c.AppMigrations = fsys }
}

// tableExists reports whether the database at dsn has the table.
func tableExists(t *testing.T, dsn, table string) bool {
	t.Helper()
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
	if database.IsPostgres(dsn) {
		q = "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?1"
	}
	var n int
	require.NoError(t, testdb.Raw(t, dsn).QueryRow(q, table).Scan(&n))
	return n == 1
}

// TestAppMigrations: the application's migrations are applied after
// credstore's, recorded in their own track, applied once however often the
// store opens, and their table cascades on a user's delete.
func TestAppMigrations(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		fsys := appMigrations(nil)
		s := newStore(t, dsn, withAppMigrations(fsys))
		raw := testdb.Raw(t, dsn)

		var n, latest int
		require.NoError(t, raw.QueryRow("SELECT COUNT(*), MAX(version) FROM app_schema_migrations").Scan(&n, &latest))
		assert.Equal(t, 2, n)
		assert.Equal(t, 2, latest)
		var credstoreVersions int
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&credstoreVersions))
		ups, err := fs.Glob(schema.FS, "sqlite/*.up.sql")
		require.NoError(t, err)
		assert.Equal(t, len(ups), credstoreVersions, "credstore's track is its own")

		// Opening again applies nothing.
		newStore(t, dsn, withAppMigrations(fsys))
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM app_schema_migrations").Scan(&n))
		assert.Equal(t, 2, n)

		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		for _, u := range []auth.User{alice, bob} {
			_, err := raw.Exec("INSERT INTO orgs (user_id, name, slug) VALUES (?1, ?2, ?3)", u.ID, u.Username+"'s org", u.Username)
			require.NoError(t, err)
		}
		require.NoError(t, s.DeleteUser(ctx, alice.ID))
		var slug string
		require.NoError(t, raw.QueryRow("SELECT COUNT(*), MIN(slug) FROM orgs").Scan(&n, &slug))
		assert.Equal(t, 1, n, "alice's org went with her")
		assert.Equal(t, "bob", slug)

		// A build of the application that knows fewer versions is refused.
		older := appMigrations(nil)
		for _, e := range []string{"sqlite", "postgres"} {
			delete(older, e+"/0002_org_slug.up.sql")
			delete(older, e+"/0002_org_slug.down.sql")
		}
		_, err = auth.Open(ctx, dsn, func() auth.Config { c := testConfig(); c.AppMigrations = older; return c }())
		require.ErrorContains(t, err, "upgrade the application")

		// Down to 0 drops the application's tables and leaves credstore's.
		require.NoError(t, s.MigrateAppTo(ctx, 0))
		assert.False(t, tableExists(t, dsn, "orgs"))
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM app_schema_migrations").Scan(&n))
		assert.Zero(t, n)
		_, err = s.Login(ctx, "bob", pw("bob"))
		require.NoError(t, err)
	})
}

// TestAppMigrationFails: a bad application migration fails the open and
// leaves nothing of the application's track, not even the good versions
// before it (they are one transaction); credstore's own schema, applied in
// its own transaction first, stays.
func TestAppMigrationFails(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		bad := appMigrations(map[string]string{
			"0003_teams.up.sql":   "CREATE TABLE teams (id integer PRIMARY KEY); INSERT INTO nosuchtable VALUES (1);",
			"0003_teams.down.sql": "DROP TABLE teams;",
		})
		cfg := testConfig()
		cfg.AppMigrations = bad
		_, err := auth.Open(ctx, dsn, cfg)
		require.ErrorContains(t, err, "3_teams up")
		for _, table := range []string{"orgs", "teams", "app_schema_migrations"} {
			assert.False(t, tableExists(t, dsn, table), table)
		}
		assert.True(t, tableExists(t, dsn, "users"))

		// A migration that tries a Go step is refused before anything runs.
		cfg.AppMigrations = appMigrations(map[string]string{
			"0003_step.up.sql":   "-- credstore:go backfill_email_canonical\n",
			"0003_step.down.sql": "SELECT 1;",
		})
		_, err = auth.Open(ctx, dsn, cfg)
		require.ErrorContains(t, err, "unknown Go step")

		s := newStore(t, dsn, withAppMigrations(appMigrations(nil)))
		assert.True(t, tableExists(t, dsn, "orgs"))
		mustRegister(t, s, reg("alice"))
	})
}
