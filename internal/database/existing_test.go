package database_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestOpenExistingRefusesMissingFile: OpenExisting refuses a SQLite file
// that does not exist, by path or by file: URI, and creates nothing, where
// OpenNoMigrate creates it.
func TestOpenExistingRefusesMissingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "mistyped.db"),
		"file:" + filepath.Join(dir, "mistyped-uri.db") + "?cache=shared",
		"file://" + filepath.Join(dir, "mistyped-authority.db"),
		"file:" + filepath.Join(dir, "mistyped-rwc.db") + "?mode=rwc",
	} {
		_, err := database.OpenExisting(ctx, dsn)
		require.ErrorIs(t, err, database.ErrNoDatabase, dsn)
		assert.Contains(t, err.Error(), "check the path")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing created")

	_, err = database.OpenExisting(ctx, filepath.Join(dir, "no-such-dir", "x.db"))
	require.ErrorIs(t, err, database.ErrNoDatabase)

	d, err := database.OpenNoMigrate(ctx, filepath.Join(dir, "made.db"))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	d, err = database.OpenExisting(ctx, filepath.Join(dir, "made.db"))
	require.NoError(t, err, "an existing file opens")
	require.NoError(t, d.Close())
}

// TestOpenExistingMigratesNothing: OpenExisting leaves an older schema as
// it is and CheckVersion names both versions; a newer one likewise; the
// latest passes; and the application's track is checked when given.
func TestOpenExistingMigratesNothing(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		require.NoError(t, d.MigrateTo(ctx, 2))
		require.NoError(t, d.Close())

		d, err = database.OpenExisting(ctx, dsn)
		require.NoError(t, err)
		defer d.Close()
		var ve *database.VersionError
		require.ErrorAs(t, d.CheckVersion(ctx, nil), &ve)
		assert.Equal(t, database.VersionError{Owner: "credstore", Database: 2, Build: latest}, *ve)
		assert.Contains(t, ve.Error(), "older than this build's")
		v, err := d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, v, "nothing migrated")

		require.NoError(t, d.Migrate(ctx))
		require.NoError(t, d.CheckVersion(ctx, nil))

		app := fstest.MapFS{
			string(d.Engine()) + "/0001_notes.up.sql":   {Data: []byte("CREATE TABLE notes (id INTEGER PRIMARY KEY);")},
			string(d.Engine()) + "/0001_notes.down.sql": {Data: []byte("DROP TABLE notes;")},
		}
		require.ErrorAs(t, d.CheckVersion(ctx, app), &ve)
		assert.Equal(t, database.VersionError{Owner: "the application", Database: 0, Build: 1}, *ve)
		require.NoError(t, d.MigrateApp(ctx, app))
		require.NoError(t, d.CheckVersion(ctx, app))

		_, err = d.Executor().ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', ?2)",
			latest+1, time.Now().UTC())
		require.NoError(t, err)
		require.ErrorAs(t, d.CheckVersion(ctx, nil), &ve)
		assert.Equal(t, database.VersionError{Owner: "credstore", Database: latest + 1, Build: latest}, *ve)
		assert.Contains(t, ve.Error(), "newer than this build's")
	})
}

// TestCreateSQLiteFileModes: Open creates the file a SQLite DSN names
// only where SQLite would, and names it as spelled.
func TestCreateSQLiteFileModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	// mode=rw and mode=ro tell SQLite not to create the file: neither
	// does credstore.
	for _, mode := range []string{"rw", "ro"} {
		path := filepath.Join(dir, mode+".db")
		_, err := database.Open(ctx, "file:"+path+"?mode="+mode)
		require.Error(t, err)
		_, err = os.Stat(path)
		assert.True(t, errors.Is(err, fs.ErrNotExist), "mode=%s creates nothing", mode)
	}
	// A path with the characters a URI would read otherwise.
	path := filepath.Join(dir, "a%41#b.db")
	d, err := database.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "the file is named as spelled")
	d, err = database.OpenExisting(ctx, path)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, strings.HasPrefix(e.Name(), "a%41#b.db"), "no other file: %s", e.Name())
	}
}
