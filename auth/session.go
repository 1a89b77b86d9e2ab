package auth

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/credstore/credstore/db"
)

// SessionTouchInterval is how often a session in use records that it is in
// use. Validating a session is a read; the write that keeps an active
// session from idling out happens at most once per interval per session.
const SessionTouchInterval = time.Minute

// MaxClockSkew is how far in the future a session or reset token may have
// been created (by an instance whose clock runs a little ahead of this
// one's) and still be honoured. Rows from further in the future were made
// by a clock that was wrong, and are refused rather than kept alive past
// their lifetime until the clock catches up.
const MaxClockSkew = time.Minute

// Session is a login session. Its token is the bearer secret; the database
// keeps only the token's SHA-256, so the token exists only in the Session
// that CreateSession or LoginSession returns and with the client.
//
// It encodes to JSON as a "your sessions" page shows it: its id (the handle
// RevokeSession takes, which acts only together with the owner's user id, so
// knowing another user's session id grants nothing) and its times. The token
// is never encoded (hand it to the client as a cookie or an explicit field),
// nor the internal user id (see User).
type Session struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"-"`
	// Token is set only in the Session that CreateSession and LoginSession
	// return; it is empty everywhere else, because it is never stored.
	// Hand it to the client and never log it.
	Token      string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"` // moved forward at most once per SessionTouchInterval
	ExpiresAt  time.Time `json:"expires_at"`   // CreatedAt plus the absolute lifetime
}

// IdleExpiresAt is when the session ends if it is not used before.
func (s Session) IdleExpiresAt(idle time.Duration) time.Time {
	return s.LastSeenAt.Add(idle)
}

// CreateSession starts a new session for the user and returns it with its
// token. Every call makes a new random token, so a login never reuses (and
// an attacker can never fix) a session id.
//
// Errors: ErrNotFound when the user does not exist; ErrAccountDisabled
// (wrapped) when an administrator disabled the account.
func (s *Store) CreateSession(ctx context.Context, userID int64) (Session, error) {
	token, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return Session{}, wrap("create session", err)
	}
	var row db.Session
	err = s.inTx(ctx, "create session", func(tx *txn) error {
		// The user's row first (see LockUser in queries/users.sql), so a
		// password write and this insert see each other in one order on
		// both engines.
		u, err := tx.lockUser(userID)
		if err != nil {
			return err
		}
		if u.DisabledAt.Valid {
			return ErrAccountDisabled
		}
		if row, err = tx.insertSession(userID, hash, s.cfg.SessionLifetime); err != nil {
			return err
		}
		tx.record(EventSessionCreated, refOf(u), map[string]any{"session_id": row.ID})
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	sess := sessionFromDB(row)
	sess.Token = token
	return sess, nil
}

// insertSession inserts a session of the user whose token has the hash
// tokenHash, for lifetime from now.
func (tx *txn) insertSession(userID int64, tokenHash string, lifetime time.Duration) (db.Session, error) {
	return tx.q.CreateSession(tx.ctx, db.CreateSessionParams{
		UserID: userID, TokenHash: tokenHash, Now: tx.now, ExpiresAt: tx.now.Add(lifetime),
	})
}

// LoginSession logs a user in as Login does and starts a session for them.
//
// The session is created only if the user's password is still the one just
// verified, checked in the transaction that creates it: a login that
// verified the old password while a reset, change or set committed gets no
// session, so "a reset ends every session" holds under concurrency too.
//
// Errors: those of Login (ErrInvalidCredentials for every failed login, also
// when the password changed or the user went while it was being checked;
// *ThrottledError when the account's bucket is waiting).
func (s *Store) LoginSession(ctx context.Context, identifier, password string) (User, Session, error) {
	g, err := s.passwordLogin(ctx, LoginAttempt{Identifier: identifier, Password: password}, outSession)
	return g.user, g.session, err
}

// SessionUser returns the user that token authenticates, and the session.
//
// It is a single indexed read, or none: the store remembers what it read
// (see Config.SessionCacheSize), forgets it as soon as it changes anything
// a lookup reads itself, and learns of changes committed by others within
// Config.SessionCacheMaxStale. When the session's last recorded use is at
// least SessionTouchInterval old it also records this use, with a
// conditional update that writes once however many requests race; that
// bookkeeping is best effort (a failure leaves the request authenticated and
// the next request tries again).
//
// Errors: ErrInvalidSession, unwrapped, for every token that does not name a
// live session (malformed, unknown, revoked, past its absolute lifetime or
// idle timeout). Other errors are the database's, wrapped.
func (s *Store) SessionUser(ctx context.Context, token string) (User, Session, error) {
	if s.cache == nil {
		hash, ok := tokenHash(token)
		if !ok {
			return User{}, Session{}, ErrInvalidSession
		}
		row, err := read(ctx, s.q.GetSessionUser, hash)
		if err != nil {
			return User{}, Session{}, sessionLookupError("session user", err)
		}
		if row.User.DisabledAt.Valid {
			return User{}, Session{}, ErrInvalidSession // DisableUser ended it
		}
		sess, err := s.liveSession(ctx, row.Session, hash)
		if err != nil {
			return User{}, Session{}, err
		}
		return userFromDB(row.User), sess, nil
	}
	p, err := s.sessionProfile(ctx, token)
	return p.user, p.sess, err
}

// SessionProfile is SessionUser returning also the user's second-factor
// status, in the same single read: what a profile page shows.
//
// Errors: those of SessionUser.
func (s *Store) SessionProfile(ctx context.Context, token string) (User, Session, TwoFactorStatus, error) {
	p, err := s.sessionProfile(ctx, token)
	return p.user, p.sess, p.tf, err
}

func (s *Store) sessionProfile(ctx context.Context, token string) (sessionProfile, error) {
	sum, ok := tokenSum(token)
	if !ok {
		return sessionProfile{}, ErrInvalidSession
	}
	key := cacheKey{sum: sum}
	now := s.now()
	// A remembered session is used while it is live and its use was
	// recorded recently; otherwise it is read again, and the use recorded.
	if p, ok := s.cache.get(ctx, key); ok && s.live(p.sess, now) && now.Sub(p.sess.LastSeenAt) < SessionTouchInterval {
		return p, nil
	}
	g := s.cache.generation()
	hash := hex.EncodeToString(sum[:])
	row, err := read(ctx, s.q.GetSessionProfile, db.GetSessionProfileParams{Now: now, TokenHash: hash})
	if err != nil {
		return sessionProfile{}, sessionLookupError("session profile", err)
	}
	if row.User.DisabledAt.Valid {
		return sessionProfile{}, ErrInvalidSession // DisableUser ended it
	}
	sess, err := s.liveSession(ctx, row.Session, hash)
	if err != nil {
		return sessionProfile{}, err
	}
	p := sessionProfile{user: userFromDB(row.User), sess: sess, tf: twoFactorStatus(row.Factors, row.Enrollments, row.RecoveryCodes)}
	s.remember(key, p, g)
	return p, nil
}

// remember puts p into the cache, read after generation returned g; not a
// user with a pending enrollment, which ends by time rather than by a write.
func (s *Store) remember(key cacheKey, p sessionProfile, g uint64) {
	if !p.tf.EnrollmentPending {
		s.cache.put(key, p, g)
	}
}

// sessionLookupError maps the error of a session read: no row is
// ErrInvalidSession, unwrapped; anything else the database's, wrapped.
func sessionLookupError(op string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidSession
	}
	return wrap(op, err)
}

// liveSession checks a session row found by hash and records its use at
// most once per SessionTouchInterval (best effort: a failure leaves the
// request authenticated and the next one tries again).
func (s *Store) liveSession(ctx context.Context, row db.Session, hash string) (Session, error) {
	// The database found the row by this hash; comparing again in constant
	// time costs nothing and keeps the check independent of how the engine
	// compares text.
	if subtle.ConstantTimeCompare([]byte(row.TokenHash), []byte(hash)) != 1 {
		return Session{}, ErrInvalidSession
	}
	sess := sessionFromDB(row)
	now := s.now()
	if !s.live(sess, now) {
		return Session{}, ErrInvalidSession
	}
	if now.Sub(sess.LastSeenAt) >= SessionTouchInterval {
		n, err := read(ctx, s.q.TouchSession, db.TouchSessionParams{
			ID:          sess.ID,
			Now:         now,
			StaleBefore: now.Add(-SessionTouchInterval),
		})
		if err == nil && n == 1 {
			sess.LastSeenAt = now
		}
	}
	return sess, nil
}

// live reports whether sess is within both its absolute lifetime and its
// idle timeout at now, and was not created or used in the future: a row
// written while the clock ran ahead (by more than MaxClockSkew) would
// otherwise outlive its lifetime by however far ahead the clock was.
func (s *Store) live(sess Session, now time.Time) bool {
	future := now.Add(MaxClockSkew)
	return now.Before(sess.ExpiresAt) && now.Before(sess.IdleExpiresAt(s.cfg.SessionIdleTimeout)) &&
		!sess.CreatedAt.After(future) && !sess.LastSeenAt.After(future)
}

// DestroySession ends the session of token, as a logout does.
//
// Errors: ErrInvalidSession, unwrapped, when token names no live session (a
// session that had already expired is removed all the same).
func (s *Store) DestroySession(ctx context.Context, token string) error {
	hash, ok := tokenHash(token)
	if !ok {
		return ErrInvalidSession
	}
	var live bool
	err := s.inTx(ctx, "destroy session", func(tx *txn) error {
		row, err := tx.q.DeleteSessionByTokenHash(tx.ctx, hash)
		if err != nil {
			return err
		}
		// A session past its lifetime is removed all the same, but that is
		// no logout and leaves no event.
		if live = s.live(sessionFromDB(row), tx.now); !live {
			return nil
		}
		u, err := tx.q.GetUserByID(tx.ctx, row.UserID)
		if err != nil {
			return err
		}
		tx.record(EventLoggedOut, refOf(u), map[string]any{"session_id": row.ID})
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrInvalidSession
	case err != nil:
		return err
	case !live:
		return ErrInvalidSession
	}
	return nil
}

// ListSessions returns the user's live sessions, oldest first, without
// their tokens. A user without sessions (or without an account) gets an
// empty list.
func (s *Store) ListSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := read(ctx, s.q.ListUserSessions, userID)
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	now := s.now()
	out := make([]Session, 0, len(rows))
	for _, r := range rows {
		if sess := sessionFromDB(r); s.live(sess, now) {
			out = append(out, sess)
		}
	}
	return out, nil
}

// RevokeSession ends one of the user's sessions by its id, as a "log out
// that device" button does.
//
// Errors: ErrSessionNotFound when the user has no session with that id.
func (s *Store) RevokeSession(ctx context.Context, userID, sessionID int64) error {
	return s.inTx(ctx, "revoke session", func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if errors.Is(err, ErrNotFound) {
			return ErrSessionNotFound
		} else if err != nil {
			return err
		}
		n, err := tx.q.DeleteUserSession(tx.ctx, db.DeleteUserSessionParams{ID: sessionID, UserID: userID})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrSessionNotFound
		}
		tx.record(EventSessionsRevoked, refOf(u), map[string]any{"session_id": sessionID})
		return nil
	})
}

// RevokeSessions ends every session of the user and returns how many there
// were. ChangePassword, SetPassword and ResetPassword do this themselves. A
// user without an account has no sessions: 0, and no error.
func (s *Store) RevokeSessions(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, "revoke sessions", func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if errors.Is(err, ErrNotFound) {
			n = 0
			return nil
		} else if err != nil {
			return err
		}
		if n, err = tx.q.DeleteUserSessions(tx.ctx, userID); err != nil {
			return err
		}
		if n > 0 {
			tx.record(EventSessionsRevoked, refOf(u), map[string]any{"sessions": n})
		}
		return nil
	})
	return n, err
}

// PurgeCounts says how many rows of each kind PurgeExpired deleted.
type PurgeCounts struct {
	Sessions    int64 // past their absolute lifetime or idle timeout
	Resets      int64 // reset tokens past their expiry
	Devices     int64 // device tokens past their lifetime
	Throttles   int64 // throttle buckets no longer waiting and idle for ThrottleWindow
	AuditEvents int64 // audit events older than Config.AuditRetention
	Challenges  int64 // login challenges past their lifetime
	Enrollments int64 // TOTP enrollments never confirmed
	SigningKeys int64 // retired signing keys every token of which has expired
}

// PurgeExpired deletes the sessions past their absolute lifetime or idle
// timeout, the reset and device tokens past their expiry, the throttle
// buckets that no longer count anything, the retired signing keys every
// token of which has expired, and the audit events older than
// Config.AuditRetention, and says how many of each it deleted. Expired rows
// never authenticate anything; purging keeps the tables small, and keeps
// audit events no longer than their retention. RunHousekeeping runs it
// at an interval until its context ends.
func (s *Store) PurgeExpired(ctx context.Context) (PurgeCounts, error) {
	var c PurgeCounts
	err := s.inTx(ctx, "purge expired", func(tx *txn) error {
		var err error
		c.Sessions, err = tx.q.PurgeSessions(tx.ctx, db.PurgeSessionsParams{
			Now:        tx.now,
			IdleBefore: tx.now.Add(-s.cfg.SessionIdleTimeout),
		})
		if err != nil {
			return err
		}
		if c.Resets, err = tx.q.PurgePasswordResets(tx.ctx, tx.now); err != nil {
			return err
		}
		if c.Challenges, err = tx.q.PurgeMFAChallenges(tx.ctx, tx.now); err != nil {
			return err
		}
		if c.Enrollments, err = tx.q.PurgeTOTPEnrollments(tx.ctx, tx.now); err != nil {
			return err
		}
		c.SigningKeys, err = s.purgeSigningKeys(tx)
		return err
	})
	if err == nil {
		err = s.purgeThrottles(ctx, &c)
	}
	if err == nil {
		c.AuditEvents, err = s.purgeAudit(ctx)
	}
	return c, err
}

func sessionFromDB(r db.Session) Session {
	return Session{
		ID:         r.ID,
		UserID:     r.UserID,
		CreatedAt:  r.CreatedAt.UTC(),
		LastSeenAt: r.LastSeenAt.UTC(),
		ExpiresAt:  r.ExpiresAt.UTC(),
	}
}
