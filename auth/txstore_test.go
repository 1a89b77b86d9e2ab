package auth_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// txFixture is a store on an application's pool that has the application's
// own orgs table.
type txFixture struct {
	dsn  string
	pool *sql.DB
	s    *auth.Store
}

func newTxFixture(t *testing.T, dsn string) txFixture {
	t.Helper()
	pool := appPool(t, dsn)
	s := openDB(t, pool)
	_, err := pool.Exec(orgsTable(dsn))
	require.NoError(t, err)
	return txFixture{dsn: dsn, pool: pool, s: s}
}

// createOrg writes the application's own row in tx.
func (f txFixture) createOrg(t *testing.T, tx *sql.Tx, userID int64, name string) {
	t.Helper()
	_, err := tx.Exec(appSQL(f.dsn, "INSERT INTO orgs (user_id, name) VALUES (?1, ?2)"), userID, name)
	require.NoError(t, err)
}

// events counts the audit events about the user.
func (f txFixture) events(t *testing.T, userID int64) int {
	t.Helper()
	evs, err := f.s.AuditEvents(context.Background(), auth.AuditFilter{UserID: userID})
	require.NoError(t, err)
	return len(evs)
}

// TestTxStoreCommit: a user and the application's row created in the
// application's transaction are both there once it commits, with the
// registration's audit event, and the audit chain verifies.
func TestTxStoreCommit(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := newTxFixture(t, dsn)

		tx, err := f.pool.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback() //nolint:errcheck
		u, err := f.s.WithTx(tx).Register(ctx, reg("alice"))
		require.NoError(t, err)
		f.createOrg(t, tx, u.ID, "Alice's org")
		root, err := f.s.WithTx(tx).RegisterAdmin(ctx, reg("root"))
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		if got, err := f.s.User(ctx, root.ID); assert.NoError(t, err) {
			assert.True(t, got.IsAdmin, "an administrator, committed with the rest")
		}

		got, err := f.s.User(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.Email, got.Email)
		assert.Equal(t, 1, countRows(t, f.pool, "orgs"))
		assert.Equal(t, 1, f.events(t, u.ID), "user_registered")
		_, err = f.s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		report, err := f.s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		assert.Positive(t, report.Events)
	})
}

// TestTxStoreRollback: when the application rolls its transaction back,
// neither the user, nor the application's row, nor the audit event exists,
// and the chain still verifies. The same holds for an update and a delete.
func TestTxStoreRollback(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := newTxFixture(t, dsn)

		tx, err := f.pool.BeginTx(ctx, nil)
		require.NoError(t, err)
		u, err := f.s.WithTx(tx).Register(ctx, reg("alice"))
		require.NoError(t, err)
		f.createOrg(t, tx, u.ID, "Alice's org")
		require.NoError(t, tx.Rollback())

		_, err = f.s.User(ctx, u.ID)
		require.ErrorIs(t, err, auth.ErrNotFound)
		assert.Zero(t, countRows(t, f.pool, "orgs"))
		assert.Zero(t, countRows(t, f.pool, "audit_events"))
		_, err = f.s.VerifyAuditChain(ctx)
		require.NoError(t, err)

		// A committed user, then an update and a delete rolled back.
		bob := mustRegister(t, f.s, reg("bob"))
		tx, err = f.pool.BeginTx(ctx, nil)
		require.NoError(t, err)
		email := "robert@example.com"
		_, err = f.s.WithTx(tx).UpdateUser(ctx, bob.ID, auth.UserUpdate{Email: &email})
		require.NoError(t, err)
		require.NoError(t, f.s.WithTx(tx).SetPassword(ctx, bob.ID, "Another-secret-42"))
		require.NoError(t, f.s.WithTx(tx).DeleteUser(ctx, bob.ID))
		require.NoError(t, tx.Rollback())

		got, err := f.s.User(ctx, bob.ID)
		require.NoError(t, err)
		assert.Equal(t, bob.Email, got.Email)
		assert.Equal(t, 1, f.events(t, bob.ID), "only bob's registration")
		_, err = f.s.Login(ctx, "bob", pw("bob"))
		require.NoError(t, err, "the old password still works")
		_, err = f.s.VerifyAuditChain(ctx)
		require.NoError(t, err)
	})
}

// TestTxStoreFailureKeepsTransaction: a write that fails in the
// application's transaction leaves nothing of itself, and the application's
// transaction goes on (on PostgreSQL the failed insert would otherwise have
// aborted it).
func TestTxStoreFailureKeepsTransaction(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := newTxFixture(t, dsn)
		alice := mustRegister(t, f.s, reg("alice"))

		tx, err := f.pool.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback() //nolint:errcheck
		ts := f.s.WithTx(tx)
		bob, err := ts.Register(ctx, reg("bob"))
		require.NoError(t, err)
		_, err = ts.Register(ctx, reg("alice"))
		var dup *auth.DuplicateError
		require.ErrorAs(t, err, &dup)
		require.ErrorIs(t, ts.DeleteUser(ctx, 1<<40), auth.ErrNotFound)
		f.createOrg(t, tx, bob.ID, "Bob's org")
		f.createOrg(t, tx, alice.ID, "Alice's org")
		require.NoError(t, tx.Commit())

		assert.Equal(t, 2, countRows(t, f.pool, "users"))
		assert.Equal(t, 2, countRows(t, f.pool, "orgs"))
		assert.Equal(t, 1, f.events(t, bob.ID))
		require.NoError(t, f.s.DeleteUser(ctx, bob.ID))
		assert.Equal(t, 1, countRows(t, f.pool, "orgs"), "bob's org went with him")
		_, err = f.s.VerifyAuditChain(ctx)
		require.NoError(t, err)
	})
}
