package database

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schemaSnapshot lists every table and index credstore's migrations made.
func schemaSnapshot(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.SQL().Query(`SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMigrationsEmbedded(t *testing.T) {
	t.Parallel()
	ms, err := migrations(SQLite)
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		assert.Equal(t, i+1, m.Version)
		assert.NotEmpty(t, m.Name)
		assert.NotEmpty(t, m.Up, "%d up", m.Version)
		assert.NotEmpty(t, m.Down, "%d down", m.Version)
	}
	_, err = migrations(Engine("nosuchengine"))
	assert.Error(t, err)
}

func TestMigrateUpOnOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, path := openFile(t)
	latest, err := d.LatestVersion()
	require.NoError(t, err)
	v, err := d.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, latest, v)
	snap := schemaSnapshot(t, d)
	assert.NotEmpty(t, snap)
	for _, table := range []string{"users", "credentials"} {
		var n int
		require.NoError(t, d.SQL().QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '"+table+"'").Scan(&n))
		assert.Equal(t, 1, n, "table %s", table)
	}

	// Opening again finds nothing to do.
	again, err := Open(ctx, path)
	require.NoError(t, err)
	defer again.Close()
	var recorded int
	require.NoError(t, again.SQL().QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&recorded))
	assert.Equal(t, latest, recorded, "each version recorded once")
	assert.Equal(t, snap, schemaSnapshot(t, again))
}

func TestMigrateDownAndUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	latest, err := d.LatestVersion()
	require.NoError(t, err)
	fresh := schemaSnapshot(t, d)
	_, err = d.SQL().ExecContext(ctx, insertUserSQL("doomed", 1))
	require.NoError(t, err)

	require.NoError(t, d.MigrateTo(ctx, 0))
	v, err := d.Version(ctx)
	require.NoError(t, err)
	assert.Zero(t, v)
	assert.Empty(t, schemaSnapshot(t, d), "version 0 has none of credstore's tables or indexes")

	require.NoError(t, d.MigrateTo(ctx, latest))
	v, err = d.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, latest, v)
	assert.Equal(t, fresh, schemaSnapshot(t, d), "down then up gives the schema back exactly")
	var n int
	require.NoError(t, d.SQL().QueryRow("SELECT COUNT(*) FROM users").Scan(&n))
	assert.Zero(t, n, "down steps destroy data")

	require.NoError(t, d.Migrate(ctx), "migrating an up-to-date database is a no-op")
	assert.Equal(t, fresh, schemaSnapshot(t, d))

	for _, target := range []int{-1, latest + 1} {
		assert.Error(t, d.MigrateTo(ctx, target), "target %d", target)
	}
	v, err = d.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, latest, v, "a refused target changes nothing")
}

// TestNewerSchemaRefused: a database migrated by a later build is not
// touched by this one.
func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, path := openFile(t)
	latest, err := d.LatestVersion()
	require.NoError(t, err)
	_, err = d.SQL().ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', CURRENT_TIMESTAMP)", latest+1)
	require.NoError(t, err)
	snap := schemaSnapshot(t, d)

	err = d.Migrate(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer than this build")
	assert.Error(t, d.MigrateTo(ctx, 0), "nor may this build migrate it down")
	assert.Equal(t, snap, schemaSnapshot(t, d))

	other, err := Open(ctx, path)
	if other != nil {
		other.Close()
	}
	require.Error(t, err, "Open must refuse it")
	assert.Contains(t, err.Error(), "newer than this build")
}
