package database_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestMigrationIgnoresRequestTimeouts: a URL's statement and lock timeouts,
// tuned for requests (50 ms and 20 ms here), do not cut a migration short.
// The migration is made to wait far longer than either, deterministically:
// another session holds the migration lock until the migration has been
// seen waiting for it, and for 300 ms more. The pool keeps the URL's
// timeouts for everything else.
func TestMigrationIgnoresRequestTimeouts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kv   []string
	}{
		{"parameters", []string{"statement_timeout", "50", "lock_timeout", "20"}},
		{"options", []string{"options", "-c statement_timeout=50 -c lock-timeout=20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			base := testdb.EmptyDSN(t, database.Postgres)
			other, err := sql.Open("pgx", base)
			require.NoError(t, err)
			defer other.Close()

			holder, err := other.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer holder.Rollback() //nolint:errcheck
			_, err = holder.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", database.MigrationLockKey)
			require.NoError(t, err)

			type opened struct {
				d   *database.DB
				err error
			}
			done := make(chan opened, 1)
			go func() {
				d, err := database.Open(ctx, withParams(t, base, tc.kv...))
				done <- opened{d, err}
			}()

			// Wait until the migration waits for the lock.
			deadline := time.Now().Add(testdb.Patience)
			for {
				var waiting int
				require.NoError(t, other.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks l
					JOIN pg_database d ON d.oid = l.database
					WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()`).Scan(&waiting))
				if waiting > 0 {
					break
				}
				select {
				case o := <-done:
					if o.d != nil {
						o.d.Close()
					}
					t.Fatalf("Open returned before the migration lock was free: %v", o.err)
				default:
				}
				require.True(t, time.Now().Before(deadline), "the migration never waited for the lock")
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // well past both request timeouts
			require.NoError(t, holder.Rollback())

			o := <-done
			require.NoError(t, o.err)
			d := o.d
			defer d.Close()
			v, err := d.Version(ctx)
			require.NoError(t, err)
			latest, err := d.LatestVersion()
			require.NoError(t, err)
			assert.Equal(t, latest, v)
			assert.Equal(t, "50ms", show(t, d, "statement_timeout"), "the pool keeps the URL's timeout")
			assert.Equal(t, "20ms", show(t, d, "lock_timeout"), "the pool keeps the URL's timeout")
		})
	}
}

// TestWithoutOptions: the migration connection's options lose the timeout
// settings, however spelt, and keep the rest as written.
func TestWithoutOptions(t *testing.T) {
	t.Parallel()
	drop := database.TimeoutSettings()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"-c statement_timeout=1", ""},
		{"-c work_mem=64MB -c statement_timeout=1", "-c work_mem=64MB"},
		{"-cLock_Timeout=1 --search_path=app", "--search_path=app"},
		{"--idle-in-transaction-session-timeout=5 -c application_name=a\\ b", "-c application_name=a\\ b"},
		{"-c search_path=statement_timeout=1", "-c search_path=statement_timeout=1"},
	} {
		assert.Equal(t, tc.want, database.WithoutOptions(tc.in, drop), "%q", tc.in)
	}
}
