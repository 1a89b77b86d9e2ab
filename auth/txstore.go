package auth

import (
	"context"
	"database/sql"
)

// TxStore runs some of the store's writes in the application's own
// transaction, so that they commit or roll back with the application's
// writes: a user and the user's organisation created together, say. Get
// one from Store.WithTx.
//
// Its methods behave as the Store's of the same name, with their
// validation, errors and audit events, except that they run in the
// application's transaction: they neither begin, commit nor retry one. Each
// call writes within a savepoint, so when it fails (a *DuplicateError, say)
// nothing of it remains and the application's transaction can go on. The
// audit events are appended in the same transaction: they are in the trail
// exactly when the application commits.
//
// What that asks of the application:
//   - tx must be a transaction on the pool the store was opened on
//     (OpenDB), and must not be used by another goroutine meanwhile.
//   - Register, RegisterAdmin, SetPassword and UpdateUser with a Password
//     run bcrypt (a quarter of a second at the default cost) before they
//     send anything on tx, but tx is open while they do. On SQLite a transaction from a pool opened with SQLiteDSN
//     holds the database's write lock from its BEGIN, so every other write
//     waits for the hash: keep such a transaction short, or register
//     outside it. On PostgreSQL the first audit event locks the audit
//     chain's row until the application commits, so writes that audit
//     queue behind an open application transaction as well.
//   - On PostgreSQL a deadlock or serialization failure aborts tx: the
//     application retries its whole transaction, as the Store's own
//     transactions are retried.
//
// Only writes that belong in the application's transaction are offered.
// Login, the second-factor steps and ChangePassword are not: a failed
// attempt records itself (its throttle reservation, its audit event) and
// that record must commit even though the attempt fails, whatever the
// application's transaction does. Sessions, reset tokens and TOTP are not
// either: each hands a secret to the caller, which must not outlive a
// rollback. ImportUsers commits in batches of its own.
type TxStore struct {
	s  *Store
	tx *sql.Tx
}

// WithTx returns the store's writes that run in tx, the application's
// transaction on the store's pool (see TxStore).
func (s *Store) WithTx(tx *sql.Tx) *TxStore {
	return &TxStore{s: s, tx: tx}
}

// ctx marks ctx so that the Store's write runs in the application's
// transaction (see Store.inTx).
func (t *TxStore) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerTxKey{}, t.tx)
}

// Register is Store.Register in the application's transaction.
func (t *TxStore) Register(ctx context.Context, r Registration) (User, error) {
	return t.s.Register(t.ctx(ctx), r)
}

// RegisterAdmin is Store.RegisterAdmin in the application's transaction.
func (t *TxStore) RegisterAdmin(ctx context.Context, r Registration) (User, error) {
	return t.s.RegisterAdmin(t.ctx(ctx), r)
}

// UpdateUser is Store.UpdateUser in the application's transaction.
func (t *TxStore) UpdateUser(ctx context.Context, id int64, u UserUpdate) (User, error) {
	return t.s.UpdateUser(t.ctx(ctx), id, u)
}

// SetPassword is Store.SetPassword in the application's transaction.
func (t *TxStore) SetPassword(ctx context.Context, id int64, newPassword string) error {
	return t.s.SetPassword(t.ctx(ctx), id, newPassword)
}

// DeleteUser is Store.DeleteUser in the application's transaction; the
// delete cascades to the application's tables that reference users(id) ON
// DELETE CASCADE in that transaction too.
func (t *TxStore) DeleteUser(ctx context.Context, id int64) error {
	return t.s.DeleteUser(t.ctx(ctx), id)
}
