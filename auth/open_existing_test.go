package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestOpenExisting: a store opened for reading finds what Open wrote; a
// missing SQLite file is refused (ErrNoDatabase) and not created; an older
// schema is refused with a *SchemaVersionError naming both versions and
// the fix, and left as it was; so is a newer one.
func TestOpenExisting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "mistyped.db")
		_, err := auth.OpenExisting(ctx, path, testConfig())
		require.ErrorIs(t, err, auth.ErrNoDatabase)
		_, err = os.Stat(path)
		assert.ErrorIs(t, err, os.ErrNotExist, "nothing created")
	})

	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		defer d.Close()
		latest, err := d.LatestVersion()
		require.NoError(t, err)

		_, err = auth.OpenExisting(ctx, dsn, testConfig())
		var se *auth.SchemaVersionError
		require.ErrorAs(t, err, &se, "no schema at all")
		assert.Equal(t, auth.SchemaVersionError{Schema: "credstore", Database: 0, Build: latest}, *se)

		require.NoError(t, d.MigrateTo(ctx, 2))
		_, err = auth.OpenExisting(ctx, dsn, testConfig())
		require.ErrorAs(t, err, &se)
		assert.ErrorIs(t, err, auth.ErrSchemaVersion)
		assert.Equal(t, auth.SchemaVersionError{Schema: "credstore", Database: 2, Build: latest}, *se)
		assert.Contains(t, err.Error(), "credstore migrate up")
		v, err := d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, v, "not migrated")

		s, err := auth.Open(ctx, dsn, testConfig())
		require.NoError(t, err)
		alice := mustRegister(t, s, reg("alice"))
		require.NoError(t, s.Close())
		s, err = auth.OpenExisting(ctx, dsn, testConfig())
		require.NoError(t, err)
		got, err := s.UserByEmail(ctx, "alice@example.com")
		require.NoError(t, err)
		assert.Equal(t, alice.PublicID, got.PublicID)
		require.NoError(t, s.Close())

		// The application's migrations are checked, not applied.
		app := fstest.MapFS{
			string(d.Engine()) + "/0001_notes.up.sql":   {Data: []byte("CREATE TABLE notes (id INTEGER PRIMARY KEY);")},
			string(d.Engine()) + "/0001_notes.down.sql": {Data: []byte("DROP TABLE notes;")},
		}
		withApp := testConfig()
		withApp.AppMigrations = app
		_, err = auth.OpenExisting(ctx, dsn, withApp)
		require.ErrorAs(t, err, &se)
		assert.Equal(t, auth.SchemaVersionError{Schema: "the application", Database: 0, Build: 1}, *se)
		s, err = auth.Open(ctx, dsn, withApp)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		s, err = auth.OpenExisting(ctx, dsn, withApp)
		require.NoError(t, err)
		require.NoError(t, s.MigrateAppTo(ctx, 1), "the store keeps Config.AppMigrations")
		require.NoError(t, s.Close())

		_, err = d.Executor().ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', CURRENT_TIMESTAMP)", latest+1)
		require.NoError(t, err)
		_, err = auth.OpenExisting(ctx, dsn, testConfig())
		require.ErrorAs(t, err, &se)
		assert.Equal(t, auth.SchemaVersionError{Schema: "credstore", Database: latest + 1, Build: latest}, *se)
		assert.Contains(t, err.Error(), "newer than this build's")
	})
}
