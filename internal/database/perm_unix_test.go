//go:build unix

package database_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
)

// TestSQLiteFilesOwnerOnly: under the usual umask 022, a database Open
// creates, and its -wal and -shm files, are readable by their owner only:
// the database holds password hashes. Not parallel: the umask is the
// process's.
func TestSQLiteFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	for path, dsn := range map[string]string{
		filepath.Join(dir, "plain.db"): filepath.Join(dir, "plain.db"),
		filepath.Join(dir, "uri.db"):   "file:" + filepath.Join(dir, "uri.db") + "?cache=private",
	} {
		d, err := database.Open(ctx, dsn)
		require.NoError(t, err)
		// The pool holds the WAL open, and with it -wal and -shm.
		_, err = d.Executor().ExecContext(ctx, "CREATE TABLE written (x INTEGER)")
		require.NoError(t, err)
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			info, err := os.Stat(f)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
		}
		require.NoError(t, d.Close())
	}

	// An existing file keeps its mode: it is the operator's.
	path := filepath.Join(dir, "theirs.db")
	require.NoError(t, os.WriteFile(path, nil, 0o640))
	d, err := database.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm())
}
