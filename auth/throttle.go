package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/credstore/credstore/db"
)

// The scopes of throttle buckets: each counts its own attempts.
const (
	scopeLogin  = "login"
	scopeChange = "change"
	scopeReset  = "reset"
)

// throttle is the bucket an attempt is counted in, and what to record when
// the bucket refuses it.
type throttle struct {
	bucket string
	// shared, when set, is a second bucket the attempt also counts in: the
	// account's, shared by the identifiers that name it (its username and
	// its address). A waiting shared bucket does not refuse the attempt
	// with ErrThrottled, which would tell which identifiers name one
	// account; the attempt is refused as a wrong password, unevaluated
	// (see authenticate).
	shared    string
	policy    ThrottlePolicy
	refused   EventType // recorded once per wait
	subject   *userRef  // the account, when the identifier names one
	device    bool      // counted in a device's bucket
	operation string    // for errors: "login", "change password"...
}

// scope is the scope t's bucket belongs to.
func (t throttle) scope() string {
	scope, _, _ := strings.Cut(t.bucket, ":")
	return scope
}

// accountBucket is the bucket of a user's attempts in scope.
func accountBucket(scope string, userID int64) string {
	return scope + ":u:" + strconv.FormatInt(userID, 10)
}

// changeBucket is the bucket of the attempts to prove the current password
// of userID before a change (a password change, a second factor's
// confirmation or removal, an account's deletion). A request made in a
// session (an Actor naming the user and a session) counts in that
// session's bucket: a thief who holds a stolen session and guesses wrong
// throttles that session, not the owner's own sessions and their right
// password. A thief cannot multiply sessions without the password. A call
// without one (the store used directly) counts in the account's bucket.
func changeBucket(ctx context.Context, userID int64) string {
	if a, ok := actorFrom(ctx); ok && a.UserID == userID && a.SessionID != 0 {
		return scopeChange + ":s:" + strconv.FormatInt(a.SessionID, 10)
	}
	return accountBucket(scopeChange, userID)
}

// deviceBucket is the bucket of the attempts that present a device token.
func deviceBucket(deviceID int64) string {
	return scopeLogin + ":d:" + strconv.FormatInt(deviceID, 10)
}

// identifierBucket is the bucket of the attempts made with one identifier,
// whether or not it names an account. It holds the SHA-256 of the identifier's normal form (its canonical email
// form; a username as it is; anything else as typed), never the identifier:
// people type their passwords into the username box. The same normal form
// as an account's makes "Alice@Example.com" and "alice@example.com" one
// bucket, as they are one account once registered.
func identifierBucket(scope, identifier string) string {
	normal := "raw:" + identifier
	if strings.Contains(identifier, "@") {
		if c, ok := canonicalEmail(identifier); ok {
			normal = "email:" + c
		}
	} else if lookupUsername(identifier) {
		normal = "username:" + identifier
	}
	sum := sha256.Sum256([]byte(normal))
	return scope + ":i:" + hex.EncodeToString(sum[:])
}

// check is the cheap test before any work: a bucket that is waiting refuses
// the attempt with one indexed read, and no write unless its wait has not
// been recorded yet. nil means the attempt may go on to reserve.
func (s *Store) check(ctx context.Context, t throttle) error {
	row, err := read(ctx, s.q.GetThrottle, t.bucket)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return wrap(t.operation, err)
	}
	if now := s.now(); waiting(row, now) {
		return s.refuse(ctx, t, row, now)
	}
	return nil
}

// waiting reports whether the bucket refuses attempts at now. A bucket last
// written more than MaxClockSkew in the future was written by a clock that
// was wrong; it refuses nothing, or it would lock its key until that clock's
// time came.
func waiting(row db.Throttle, now time.Time) bool {
	return now.Before(row.LockedUntil) && !row.UpdatedAt.After(now.Add(MaxClockSkew))
}

// errWaiting carries a waiting bucket out of the transaction that found it.
type errWaiting struct{ row db.Throttle }

func (errWaiting) Error() string { return "throttle bucket is waiting" }

// reserve counts an attempt in its bucket before the attempt's work, in a
// transaction of its own, and refuses it when the bucket is waiting.
//
// An attempt counts as a failure until it succeeds: a success deletes the
// bucket (clear), in the transaction that acts on it. Counting first is what
// holds the policy under concurrency: of a hundred simultaneous guesses,
// exactly as many are evaluated as the policy allows, because each one
// takes its turn on the bucket's row before bcrypt runs.
//
// With a shared bucket, the attempt counts in both, in one transaction. A
// waiting shared bucket returns errSharedWaiting, and the count in t's own
// bucket stands: the attempt is refused as a wrong password would be.
func (s *Store) reserve(ctx context.Context, t throttle) error {
	var sharedWaiting bool
	err := s.inTx(ctx, t.operation, func(tx *txn) error {
		sharedWaiting = false
		if err := tx.count(t.bucket, t.policy); err != nil || t.shared == "" {
			return err
		}
		err := tx.count(t.shared, t.policy)
		if errors.As(err, new(errWaiting)) {
			sharedWaiting = true // and the own count commits
			return nil
		}
		return err
	})
	var w errWaiting
	switch {
	case errors.As(err, &w):
		return s.refuse(ctx, t, w.row, s.now())
	case err == nil && sharedWaiting:
		return errSharedWaiting{}
	}
	return err
}

// errSharedWaiting means an attempt was counted in its own bucket but its
// shared bucket is waiting.
type errSharedWaiting struct{}

func (errSharedWaiting) Error() string { return "shared throttle bucket is waiting" }

// count counts one attempt in bucket in this transaction, or returns
// errWaiting when the bucket is waiting.
func (tx *txn) count(bucket string, policy ThrottlePolicy) error {
	row, err := tx.q.LockThrottle(tx.ctx, db.LockThrottleParams{Bucket: bucket, Now: tx.now, Unlocked: timeMin})
	if err != nil {
		return err
	}
	if waiting(row, tx.now) {
		return errWaiting{row}
	}
	if row.UpdatedAt.After(tx.now.Add(MaxClockSkew)) {
		row.Failures, row.WindowFailures = 0, 0 // written by a clock that ran ahead
	}
	failures := row.Failures + 1
	windowStart, windowFailures := row.WindowStart, row.WindowFailures
	if windowFailures == 0 || !tx.now.Before(windowStart.Add(ThrottleWindow)) {
		windowStart, windowFailures = tx.now, 0
	}
	windowFailures++
	// Not waiting is a time long past, not tx.now: a concurrent attempt
	// whose clock was read a moment before this one's must not find the
	// bucket waiting until now.
	lockedUntil := timeMin
	if d := policy.delay(failures); d > 0 {
		lockedUntil = tx.now.Add(d)
	}
	if windowFailures >= int64(policy.DailyFailures) {
		lockedUntil = later(lockedUntil, windowStart.Add(ThrottleWindow))
	}
	return tx.q.UpdateThrottle(tx.ctx, db.UpdateThrottleParams{
		Bucket: bucket, Failures: failures, WindowStart: windowStart, WindowFailures: windowFailures,
		LockedUntil: lockedUntil, Now: tx.now,
	})
}

// clear deletes buckets: the attempt succeeded.
func (tx *txn) clear(buckets ...string) error {
	for _, b := range buckets {
		if b == "" {
			continue
		}
		if err := tx.q.DeleteThrottle(tx.ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// refuse returns the *ThrottledError of a waiting bucket, recording the
// refusal in the audit trail once per wait: a flood of attempts against a
// waiting bucket costs one read each, not one event each.
func (s *Store) refuse(ctx context.Context, t throttle, row db.Throttle, now time.Time) error {
	if row.LoggedUntil.Before(row.LockedUntil) {
		detail := map[string]any{"retry_at": row.LockedUntil.UTC(), "failures": row.Failures, "device": t.device}
		err := s.inTx(ctx, t.operation, func(tx *txn) error {
			n, err := tx.q.MarkThrottleLogged(tx.ctx, t.bucket)
			if err == nil && n == 1 {
				tx.recordBy(t.refused, t.subject, Actor{Kind: ActorAnonymous}, detail)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	wait := row.LockedUntil.Sub(now)
	return &ThrottledError{RetryAt: row.LockedUntil.UTC(), RetryAfter: max(time.Second, wait.Truncate(time.Second)+ceilSecond(wait))}
}

// ceilSecond is one second when d has a fraction of a second, so that a
// client that waits RetryAfter is never early.
func ceilSecond(d time.Duration) time.Duration {
	if d%time.Second != 0 {
		return time.Second
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// purgeThrottles deletes buckets that are not waiting and have counted
// nothing for a whole ThrottleWindow, and device tokens past their
// lifetime.
func (s *Store) purgeThrottles(ctx context.Context, c *PurgeCounts) error {
	return s.inTx(ctx, "purge throttles", func(tx *txn) error {
		var err error
		c.Throttles, err = tx.q.PurgeThrottles(tx.ctx, db.PurgeThrottlesParams{Now: tx.now, IdleBefore: tx.now.Add(-ThrottleWindow)})
		if err != nil {
			return err
		}
		c.Devices, err = tx.q.PurgeDevices(tx.ctx, tx.now)
		return err
	})
}
