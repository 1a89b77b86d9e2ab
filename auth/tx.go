package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	actor  *userRef // the acting user, once read (assertActor, publicIDOf)
}

// inTx runs fn in a write transaction for the operation op, then appends
// the events fn recorded to the audit trail and commits. Errors are wrapped
// with op; the typed ones stay matchable.
//
// Slow work (bcrypt) must be done before calling it: on SQLite the
// transaction holds the write lock, and on PostgreSQL the audit chain's row
// is held from the first event to the commit. fn may run more than once
// (database.DB.InTx retries deadlocks), each time with a fresh txn.
//
// Called through a TxStore, whose ctx carries the application's
// transaction, fn runs once in that transaction instead (see inCallerTx).
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *txn) error) error {
	// Whatever happened, the cache of session lookups forgets what it
	// holds: it may have changed (sessioncache.go). Within an application's
	// transaction that is too early to be enough, since the change commits
	// later; the cache learns of that commit as of any other connection's.
	defer s.cache.changed()
	if tx, ok := ctx.Value(callerTxKey{}).(*sql.Tx); ok {
		return wrap(op, mapError(s.inCallerTx(ctx, tx, fn)))
	}
	err := s.db.InTx(ctx, func(ex database.Executor) error {
		tx := &txn{ctx: ctx, q: db.New(ex), now: s.now()}
		if err := tx.assertActor(); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.appendEvents()
	})
	// Whatever statement of fn failed, its error reaches the caller as the
	// package's (mapError): no call site has to remember to map it.
	return wrap(op, mapError(err))
}

// callerTxKey is the context key under which a TxStore call carries the
// application's transaction to inTx. It is unexported, so only TxStore sets
// it, and only for the duration of one of its calls.
type callerTxKey struct{}

// inCallerTx runs fn and appends its events in the application's
// transaction tx, within a savepoint: when fn fails, what it wrote is undone
// and the application's transaction stays usable (on PostgreSQL a failed
// statement would otherwise abort all of it), so that a *DuplicateError,
// say, can be handled. It neither commits nor retries: both are the
// application's.
func (s *Store) inCallerTx(ctx context.Context, tx *sql.Tx, fn func(tx *txn) error) error {
	ex := s.db.TxExecutor(tx)
	if _, err := ex.ExecContext(ctx, "SAVEPOINT credstore"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	t := &txn{ctx: ctx, q: db.New(ex), now: s.now()}
	err := t.assertActor()
	if err == nil {
		err = fn(t)
	}
	if err == nil {
		err = t.appendEvents()
	}
	if err != nil {
		if _, rerr := ex.ExecContext(ctx, "ROLLBACK TO SAVEPOINT credstore"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
	}
	if _, rerr := ex.ExecContext(ctx, "RELEASE SAVEPOINT credstore"); rerr != nil {
		return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
	}
	return err
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
	return read(tx.ctx, tx.q.GetUserByID, id)
}

// assertActor re-asserts, for an actor who authenticated with a session
// (Actor.SessionID), what the request checked before the transaction began:
// the session is still alive, and an ActorAdmin is still an administrator.
// It takes the actor's row lock (as LockUser), which every demotion,
// revocation and deletion of the actor takes first too, and the session's,
// which a logout needs to delete it: none of them can commit between this
// check and the transaction's commit. Without such an actor it does
// nothing.
func (tx *txn) assertActor() error {
	a, ok := actorFrom(tx.ctx)
	if !ok || a.SessionID == 0 || (a.Kind != ActorUser && a.Kind != ActorAdmin) {
		return nil
	}
	u, err := tx.lockUser(a.UserID)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrInvalidSession // the user went, and their sessions with them
	case err != nil:
		return err
	}
	n, err := tx.q.LockLiveSession(tx.ctx, db.LockLiveSessionParams{ID: a.SessionID, UserID: a.UserID, Now: tx.now})
	switch {
	case err != nil:
		return err
	case n == 0:
		return ErrInvalidSession
	case a.Kind == ActorAdmin && !u.IsAdmin:
		return ErrNotAdmin
	}
	tx.actor = refOf(u)
	return nil
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
	return read(tx.ctx, tx.q.GetUserByID, id)
}
