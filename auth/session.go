package auth

import (
	"context"
	"crypto/subtle"
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
type Session struct {
	ID     int64
	UserID int64
	// Token is set only in the Session that CreateSession and LoginSession
	// return; it is empty everywhere else, because it is never stored.
	// Hand it to the client and never log it.
	Token      string
	CreatedAt  time.Time
	LastSeenAt time.Time // moved forward at most once per SessionTouchInterval
	ExpiresAt  time.Time // CreatedAt plus the absolute lifetime
}

// IdleExpiresAt is when the session ends if it is not used before.
func (s Session) IdleExpiresAt(idle time.Duration) time.Time {
	return s.LastSeenAt.Add(idle)
}

// CreateSession starts a new session for the user and returns it with its
// token. Every call makes a new random token, so a login never reuses (and
// an attacker can never fix) a session id.
//
// Errors: ErrNotFound when the user does not exist.
func (s *Store) CreateSession(ctx context.Context, userID int64) (Session, error) {
	sess, err := s.createSession(ctx, userID, nil)
	return sess, wrap("create session", err)
}

// LoginSession logs a user in as Login does and starts a session for them.
//
// The session is created only if the user's password is still the one just
// verified, checked in the transaction that creates it: a login that
// verified the old password while a reset, change or set committed gets no
// session, so "a reset ends every session" holds under concurrency too.
//
// Errors: those of Login (ErrInvalidCredentials for every failed login, also
// when the password changed or the user went while it was being checked).
func (s *Store) LoginSession(ctx context.Context, identifier, password string) (User, Session, error) {
	u, hash, err := s.authenticate(ctx, identifier, password)
	if err != nil {
		return User{}, Session{}, err
	}
	return s.sessionFor(ctx, u, hash, password)
}

// sessionFor creates a session for u, whose password was verified against
// hash, if that is still the user's hash; when it is not, it verifies
// password again against the hash now stored.
func (s *Store) sessionFor(ctx context.Context, u User, hash []byte, password string) (User, Session, error) {
	for attempt := 0; ; attempt++ {
		sess, err := s.createSession(ctx, u.ID, hash)
		switch {
		case err == nil:
			return u, sess, nil
		case errors.Is(err, ErrNotFound):
			return User{}, Session{}, ErrInvalidCredentials
		case !errors.Is(err, errCredentialChanged):
			return User{}, Session{}, wrap("login", err)
		case attempt == credentialRetries:
			return User{}, Session{}, ErrInvalidCredentials
		}
		// The hash changed after the check: a concurrent rehash keeps the
		// password, a change does not. Verify against what is stored now.
		h, err := s.verifyPassword(ctx, u.ID, FieldPassword, password)
		if err != nil {
			if errors.Is(err, ErrInvalidCredentials) {
				return User{}, Session{}, ErrInvalidCredentials
			}
			return User{}, Session{}, wrap("login", err)
		}
		hash = []byte(h)
	}
}

// createSession inserts a session for the user. With verified set, only if
// the user's stored hash is still verified: errCredentialChanged otherwise.
// It locks the user's row first (see LockUser in queries/users.sql), so a
// password write and this insert see each other in one order on both
// engines. Errors: ErrNotFound when the user does not exist.
func (s *Store) createSession(ctx context.Context, userID int64, verified []byte) (Session, error) {
	token, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return Session{}, err
	}
	var row db.Session
	err = s.inTx(ctx, func(q *db.Queries) error {
		now := s.now()
		n, err := q.LockUser(ctx, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if verified != nil {
			current, err := q.GetPasswordHash(ctx, userID)
			if err != nil {
				return mapError(err)
			}
			if subtle.ConstantTimeCompare([]byte(current), verified) != 1 {
				return errCredentialChanged
			}
		}
		row, err = q.CreateSession(ctx, db.CreateSessionParams{
			UserID:    userID,
			TokenHash: hash,
			Now:       now,
			ExpiresAt: now.Add(s.cfg.SessionLifetime),
		})
		return err
	})
	if err != nil {
		return Session{}, err
	}
	sess := sessionFromDB(row)
	sess.Token = token
	return sess, nil
}

// SessionUser returns the user that token authenticates, and the session.
//
// It is a single indexed read. When the session's last recorded use is at
// least SessionTouchInterval old it also records this use, with a
// conditional update that writes once however many requests race; that
// bookkeeping is best effort (a failure leaves the request authenticated and
// the next request tries again).
//
// Errors: ErrInvalidSession, unwrapped, for every token that does not name a
// live session (malformed, unknown, revoked, past its absolute lifetime or
// idle timeout). Other errors are the database's, wrapped.
func (s *Store) SessionUser(ctx context.Context, token string) (User, Session, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return User{}, Session{}, ErrInvalidSession
	}
	row, err := s.queries().GetSessionUser(ctx, hash)
	switch err = mapError(err); {
	case errors.Is(err, ErrNotFound):
		return User{}, Session{}, ErrInvalidSession
	case err != nil:
		return User{}, Session{}, wrap("session user", err)
	}
	// The database found the row by this hash; comparing again in constant
	// time costs nothing and keeps the check independent of how the engine
	// compares text.
	if subtle.ConstantTimeCompare([]byte(row.Session.TokenHash), []byte(hash)) != 1 {
		return User{}, Session{}, ErrInvalidSession
	}
	sess := sessionFromDB(row.Session)
	now := s.now()
	if !s.live(sess, now) {
		return User{}, Session{}, ErrInvalidSession
	}
	if now.Sub(sess.LastSeenAt) >= SessionTouchInterval {
		n, err := s.queries().TouchSession(ctx, db.TouchSessionParams{
			ID:          sess.ID,
			Now:         now,
			StaleBefore: now.Add(-SessionTouchInterval),
		})
		if err == nil && n == 1 {
			sess.LastSeenAt = now
		}
	}
	return userFromDB(row.User), sess, nil
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
	var row db.Session
	err := s.inTx(ctx, func(q *db.Queries) error {
		var err error
		row, err = q.DeleteSessionByTokenHash(ctx, hash)
		return mapError(err)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrInvalidSession
	case err != nil:
		return wrap("destroy session", err)
	}
	if !s.live(sessionFromDB(row), s.now()) {
		return ErrInvalidSession
	}
	return nil
}

// ListSessions returns the user's live sessions, oldest first, without
// their tokens. A user without sessions (or without an account) gets an
// empty list.
func (s *Store) ListSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.queries().ListUserSessions(ctx, userID)
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
	err := s.inTx(ctx, func(q *db.Queries) error {
		n, err := q.DeleteUserSession(ctx, db.DeleteUserSessionParams{ID: sessionID, UserID: userID})
		if err == nil && n == 0 {
			return ErrSessionNotFound
		}
		return err
	})
	return wrap("revoke session", err)
}

// RevokeSessions ends every session of the user and returns how many there
// were. ChangePassword, SetPassword and ResetPassword do this themselves.
func (s *Store) RevokeSessions(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(q *db.Queries) error {
		var err error
		n, err = q.DeleteUserSessions(ctx, userID)
		return err
	})
	return n, wrap("revoke sessions", err)
}

// PurgeCounts says how many rows of each kind PurgeExpired deleted.
type PurgeCounts struct {
	Sessions    int64 // past their absolute lifetime or idle timeout
	Resets      int64 // reset tokens past their expiry
	Devices     int64 // device tokens past their lifetime
	Throttles   int64 // throttle buckets no longer waiting and idle for ThrottleWindow
	AuditEvents int64 // audit events older than Config.AuditRetention
}

// PurgeExpired deletes the sessions past their absolute lifetime or idle
// timeout, the reset and device tokens past their expiry, the throttle
// buckets that no longer count anything, and the audit events older than
// Config.AuditRetention, and says how many of each it deleted. Expired rows
// never authenticate anything; purging keeps the tables small, and keeps
// audit events no longer than their retention. Run it from time to time
// (credstore serve does, every few minutes).
func (s *Store) PurgeExpired(ctx context.Context) (PurgeCounts, error) {
	var c PurgeCounts
	now := s.now()
	err := s.inTx(ctx, func(q *db.Queries) error {
		var err error
		c.Sessions, err = q.PurgeSessions(ctx, db.PurgeSessionsParams{
			Now:        now,
			IdleBefore: now.Add(-s.cfg.SessionIdleTimeout),
		})
		if err != nil {
			return err
		}
		c.Resets, err = q.PurgePasswordResets(ctx, now)
		return err
	})
	if err != nil {
		return PurgeCounts{}, wrap("purge expired", err)
	}
	return c, nil
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
