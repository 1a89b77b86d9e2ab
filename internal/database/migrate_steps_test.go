package database_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// shape describes a database's schema by what the engine reports of it,
// not by the text of its DDL: tables and their columns, indexes,
// constraints, triggers and functions, schema_migrations left out. Two
// databases with the same shape behave alike whatever statements built
// them (SQLite rewrites a table's stored CREATE text on ALTER TABLE, so
// that text would differ between a database built up and one brought back
// down).
func shape(t *testing.T, d *database.DB) []string {
	t.Helper()
	queries := []string{
		// Every object, and every column of every table.
		`SELECT m.type || ' ' || m.name FROM sqlite_master m
		 WHERE m.name NOT LIKE 'sqlite_%' AND m.name <> 'schema_migrations'`,
		`SELECT m.name || '.' || c.name || ' ' || c.type || ' notnull=' || c."notnull" || ' pk=' || c.pk ||
		        ' default=' || COALESCE(c.dflt_value, '')
		 FROM sqlite_master m, pragma_table_xinfo(m.name) c
		 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'schema_migrations'`,
		`SELECT 'index ' || m.name || ' sql=' || COALESCE(m.sql, '') FROM sqlite_master m
		 WHERE m.type IN ('index', 'trigger') AND m.name NOT LIKE 'sqlite_%'`,
	}
	if d.Engine() == database.Postgres {
		queries = []string{
			`SELECT table_name || '.' || column_name || ' ' || data_type || ' nullable=' || is_nullable ||
			        ' default=' || COALESCE(column_default, '')
			 FROM information_schema.columns
			 WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'`,
			`SELECT 'index ' || indexdef FROM pg_indexes
			 WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`,
			`SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
			 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
			 WHERE n.nspname = current_schema() AND c.conrelid::regclass::text <> 'schema_migrations'`,
			`SELECT 'trigger ' || t.tgname || ' ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal`,
			`SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			 WHERE n.nspname = current_schema()`,
			`SELECT 'sequence ' || sequencename FROM pg_sequences
			 WHERE schemaname = current_schema() AND sequencename NOT LIKE 'schema_migrations%'`,
		}
	}
	var out []string
	for _, q := range queries {
		rows, err := d.SQL().Query(q)
		require.NoError(t, err, q)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	// Order is irrelevant, and neither engine promises one here.
	slices.Sort(out)
	return out
}

// withoutStashes is a shape without the tables (named "..._stash") in which
// a down file keeps data aside for its up file to put back (0008's keeps
// the actors' public ids), which the version below does not have.
func withoutStashes(shape []string) []string {
	return slices.DeleteFunc(slices.Clone(shape), func(s string) bool { return strings.Contains(s, "_stash") })
}

// checksOnly are the migrations that change only CHECK constraints, which
// SQLite reports nowhere but in a table's CREATE text (see shape): on
// SQLite their shape is the version below's. PostgreSQL shows the change.
var checksOnly = map[int]string{
	10: "credentials_password_hash_check admits Argon2id hashes",
}

// TestEveryDownMigrationEveryEngine goes up one version at a time,
// recording the schema's shape at each, then down one version at a time
// from the latest to 0, checking that each down step gives back exactly the
// shape of the version below but for what it stashed (and 0: nothing at
// all), then up again to the latest: every .down.sql undoes its .up.sql, on
// both engines.
func TestEveryDownMigrationEveryEngine(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		latest, err := d.LatestVersion()
		require.NoError(t, err)

		shapes := make([][]string, latest+1)
		shapes[0] = shape(t, d)
		assert.Empty(t, shapes[0], "a new database is empty")
		for v := 1; v <= latest; v++ {
			require.NoError(t, d.MigrateTo(ctx, v), "up to %d", v)
			shapes[v] = shape(t, d)
			if _, ok := checksOnly[v]; ok && d.Engine() == database.SQLite {
				continue
			}
			assert.NotEqual(t, shapes[v-1], shapes[v], "migration %d changes the schema", v)
		}
		_, err = insertUser(ctx, d.Executor(), publicID(0), "alice", "alice@example.com", nil)
		require.NoError(t, err)
		for v := latest - 1; v >= 0; v-- {
			require.NoError(t, d.MigrateTo(ctx, v), "down to %d", v)
			got, err := d.Version(ctx)
			require.NoError(t, err)
			assert.Equal(t, v, got)
			assert.Equal(t, shapes[v], withoutStashes(shape(t, d)), "down to %d gives back version %d's schema", v, v)
		}
		assert.Empty(t, shape(t, d), "down to 0 leaves nothing, no stash either")
		require.NoError(t, d.Migrate(ctx))
		assert.Equal(t, shapes[latest], shape(t, d), "up again")
	})
}

// TestOpenNoMigrate: OpenNoMigrate leaves a database at the version it
// finds, where Open migrates it to the latest.
func TestOpenNoMigrate(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		v, err := d.Version(ctx)
		require.NoError(t, err)
		assert.Zero(t, v, "a new database stays empty")
		require.NoError(t, d.MigrateTo(ctx, 2))
		require.NoError(t, d.Close())

		d, err = database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		v, err = d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, v, "reopening does not migrate")
		require.NoError(t, d.Close())

		d = open(t, dsn)
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		v, err = d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, latest, v, "Open migrates")
	})
}

// TestMigrations lists what is applied and what is pending.
func TestMigrations(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		ms, err := d.Migrations(ctx)
		require.NoError(t, err)
		require.Len(t, ms, latest)
		for i, m := range ms {
			assert.Equal(t, i+1, m.Version)
			assert.NotEmpty(t, m.Name)
			assert.False(t, m.Applied)
			assert.True(t, m.AppliedAt.IsZero())
		}
		require.NoError(t, d.MigrateTo(ctx, 2))
		ms, err = d.Migrations(ctx)
		require.NoError(t, err)
		for i, m := range ms {
			assert.Equal(t, i < 2, m.Applied, "version %d", m.Version)
			assert.Equal(t, i < 2, !m.AppliedAt.IsZero(), "version %d", m.Version)
		}
		assert.Equal(t, "users", ms[0].Name)
	})
}
