package database

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testhook"
)

// twoPools opens a database file twice: two pools, as two processes would.
func twoPools(t *testing.T) (*DB, *DB) {
	t.Helper()
	d, path := openFile(t)
	other, err := Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	return d, other
}

// TestInTxWaitsForABusyWriter: a write transaction that finds SQLite's
// write lock held beyond BusyTimeout (another process importing, say)
// waits its turn again instead of failing with SQLITE_BUSY, and commits
// once the lock is free. The other writer is a second pool on the same
// file, as another process would be; it lets go when the first has been
// refused once (the WriteBusy hook), not after some time.
func TestInTxWaitsForABusyWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, other := twoPools(t)

	conn, err := other.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)

	busy := make(chan struct{})
	hooked := testhook.With(ctx, &testhook.Hooks{WriteBusy: func(context.Context) {
		select {
		case <-busy:
		default:
			close(busy)
		}
	}})
	done := make(chan error, 1)
	go func() {
		done <- d.InTx(hooked, func(ex Executor) error {
			_, err := ex.ExecContext(ctx, insertUserSQL("waited", 1))
			return err
		})
	}()
	select {
	case <-busy:
	case err := <-done:
		t.Fatalf("the writer returned while the lock was held: %v", err)
	}
	_, err = conn.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.NoError(t, <-done, "the writer waited its turn")
	assert.Equal(t, 1, countUsers(t, d))
}

// TestYieldingWriterLeavesTheLockFree: a bulk writer (Yielding) pauses after
// each commit, and during the pause another process takes the write lock
// at once: SQLite's busy handler polls, and a writer that took the lock
// back at once would starve it.
func TestYieldingWriterLeavesTheLockFree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, other := twoPools(t)

	yields := 0
	hooked := testhook.With(Yielding(ctx), &testhook.Hooks{Yield: func(context.Context) {
		yields++
		// Not InTx: no waiting. BEGIN IMMEDIATE with a zero busy timeout
		// fails at once unless the lock is free.
		conn, err := other.SQL().Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(ctx, "PRAGMA busy_timeout = 0")
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		require.NoError(t, err, "the lock is free while the bulk writer yields")
		_, err = conn.ExecContext(ctx, insertUserSQL(fmt.Sprint("between", yields), 100+yields))
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, "COMMIT")
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, "PRAGMA busy_timeout = 5000")
		require.NoError(t, err)
	}})
	for i := range 3 {
		require.NoError(t, d.InTx(hooked, func(ex Executor) error {
			_, err := ex.ExecContext(ctx, insertUserSQL(fmt.Sprint("bulk", i), i+1))
			return err
		}))
	}
	assert.Equal(t, 3, yields, "one pause after each commit")
	assert.Equal(t, 6, countUsers(t, d))
	// Without Yielding, no pause.
	require.NoError(t, d.InTx(testhook.With(ctx, &testhook.Hooks{Yield: func(context.Context) { t.Error("a pause without Yielding") }}),
		func(ex Executor) error { _, err := ex.ExecContext(ctx, insertUserSQL("plain", 50)); return err }))
}
