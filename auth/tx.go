package auth

import (
	"context"
	"time"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

// txn is one write transaction of the store: its queries, the one time
// that everything it writes carries, and the audit events it records.
// Events are written by inTx just before it commits, in the same
// transaction: an event is in the trail exactly when the change it
// describes committed.
type txn struct {
	ctx    context.Context
	q      *db.Queries
	now    time.Time
	events []pendingEvent
}

// inTx runs fn in a write transaction for the operation op, then appends
// the events fn recorded to the audit trail and commits. Errors are wrapped
// with op; the typed ones stay matchable.
//
// Slow work (bcrypt) must be done before calling it: on SQLite the
// transaction holds the write lock, and on PostgreSQL the audit chain's row
// is held from the first event to the commit. fn may run more than once
// (database.DB.InTx retries deadlocks), each time with a fresh txn.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *txn) error) error {
	err := s.db.InTx(ctx, func(ex database.Executor) error {
		tx := &txn{ctx: ctx, q: db.New(ex), now: s.now()}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.appendEvents()
	})
	return wrap(op, err)
}

// lockUser takes the user's row lock (see LockUser in queries/users.sql) and
// returns the user; ErrNotFound when there is none.
func (tx *txn) lockUser(id int64) (db.User, error) {
	n, err := tx.q.LockUser(tx.ctx, id)
	if err != nil {
		return db.User{}, err
	}
	if n == 0 {
		return db.User{}, ErrNotFound
	}
	u, err := tx.q.GetUserByID(tx.ctx, id)
	return u, mapError(err)
}

// touchUser is lockUser that also moves the user's updated_at, as a
// password write does.
func (tx *txn) touchUser(id int64) (db.User, error) {
	n, err := tx.q.TouchUser(tx.ctx, db.TouchUserParams{ID: id, Now: tx.now})
	if err != nil {
		return db.User{}, err
	}
	if n == 0 {
		return db.User{}, ErrNotFound
	}
	u, err := tx.q.GetUserByID(tx.ctx, id)
	return u, mapError(err)
}
