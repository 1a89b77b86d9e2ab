package auth

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/credstore/credstore/db"
)

// Tokens for clients that hold no cookie (mobile and desktop apps, scripts)
// and for other services: a short-lived access token (a JWT, see
// accesstoken.go) and a long-lived opaque refresh token that gets the next
// pair.
//
// A refresh-token family is a session. The password grant creates a
// session, as a login does, with its first refresh token; every refresh
// marks the token presented used and adds the next one to the same
// session. So whatever ends a session (logout, revocation, a password
// change or reset, the account's deletion) ends its family, and refresh
// tokens live exactly as long as their session: within Config.SessionLifetime
// from the login, and until Config.SessionIdleTimeout without a refresh.
//
// Reuse is treated strictly: a token presented after it was exchanged ends
// its family, whoever presents it, even a second after the exchange and
// even if the same client sent both (two refreshes racing). A lenient
// window, as Supabase Auth's reuse interval, would let a thief who copies a
// token within it get a pair of their own without ending the victim's; a
// client that refreshes from one place at a time never meets the case.

// TokenResult is a successful token grant. It encodes to JSON as the OAuth
// 2.0 token response (RFC 6749 §5.1): access_token, token_type,
// expires_in, refresh_token.
type TokenResult struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"` // always "Bearer"
	// ExpiresIn is the access token's lifetime, in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// RefreshToken gets the next pair from RefreshTokens, once. It is a
	// bearer secret, stored only hashed; never log it.
	RefreshToken string `json:"refresh_token"`

	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time `json:"-"`
	// User is the user the tokens are for.
	User User `json:"-"`
	// SessionID is the session (the refresh-token family) the tokens
	// belong to, as Session.ID.
	SessionID int64 `json:"-"`
}

// IssueTokens is the password grant: it logs a user in as LoginWithDevice
// does (the throttle, the audit trail, a presented device token renewed but
// none issued) and starts a session with an access token and the first
// refresh token of its family.
//
// A user with a second factor gets *SecondFactorRequiredError instead, to
// answer with CompleteTokenLogin.
//
// Errors: those of LoginSession; ErrNoSecretKey (wrapped) without
// Config.SecretKeys, before the password is looked at.
func (s *Store) IssueTokens(ctx context.Context, a LoginAttempt) (TokenResult, error) {
	g, err := s.passwordLogin(ctx, a, outTokens)
	return s.tokensOf(ctx, g, err)
}

// CompleteTokenLogin completes a password grant that returned
// *SecondFactorRequiredError, as CompleteLogin completes a login, and
// issues the tokens.
//
// Errors: those of CompleteLogin; ErrNoSecretKey (wrapped) without
// Config.SecretKeys.
func (s *Store) CompleteTokenLogin(ctx context.Context, a SecondFactor) (TokenResult, error) {
	g, err := s.secondFactorLogin(ctx, a, outTokens)
	return s.tokensOf(ctx, g, err)
}

// tokensOf signs the access token of a login granted outTokens.
func (s *Store) tokensOf(ctx context.Context, g granted, err error) (TokenResult, error) {
	if err != nil {
		return TokenResult{}, err
	}
	return s.tokenResult(ctx, g.user, g.session.ID, g.refresh)
}

// RefreshTokens is the refresh-token grant: it exchanges a live refresh
// token for a new access token and the next refresh token of its family,
// once. The exchange also counts as a use of the session (its idle timeout
// starts again).
//
// Errors: ErrInvalidRefreshToken, unwrapped, for a token malformed,
// unknown, or of a session that ended; ErrRefreshTokenReused, unwrapped,
// for a token already exchanged (its family is then revoked and the event
// audited as EventRefreshTokenReused); ErrNoSecretKey (wrapped) without
// Config.SecretKeys; the database's.
func (s *Store) RefreshTokens(ctx context.Context, refreshToken string) (TokenResult, error) {
	hash, ok := tokenHash(refreshToken)
	if !ok {
		return TokenResult{}, ErrInvalidRefreshToken
	}
	if _, err := s.activeKeys(ctx); err != nil {
		return TokenResult{}, wrap("refresh tokens", err)
	}
	row, err := read(ctx, s.q.GetRefreshToken, hash)
	if errors.Is(err, ErrNotFound) {
		return TokenResult{}, ErrInvalidRefreshToken
	} else if err != nil {
		return TokenResult{}, wrap("refresh tokens", err)
	}
	if subtle.ConstantTimeCompare([]byte(row.RefreshToken.TokenHash), []byte(hash)) != 1 {
		return TokenResult{}, ErrInvalidRefreshToken
	}
	if row.RefreshToken.UsedAt.Valid {
		if err := s.inTx(ctx, "refresh tokens", func(tx *txn) error { return s.endReusedFamily(tx, row) }); err != nil {
			return TokenResult{}, err
		}
		return TokenResult{}, ErrRefreshTokenReused
	}
	now := s.now()
	if !s.live(sessionFromDB(row.Session), now) || row.RefreshToken.CreatedAt.After(now.Add(MaxClockSkew)) || row.User.DisabledAt.Valid {
		return TokenResult{}, ErrInvalidRefreshToken
	}
	next, nextHash, err := newToken(s.cfg.Rand)
	if err != nil {
		return TokenResult{}, wrap("refresh tokens", err)
	}
	var reused bool
	err = s.inTx(ctx, "refresh tokens", func(tx *txn) error {
		var err error
		reused, err = s.exchange(tx, row, nextHash)
		return err
	})
	switch {
	case errors.Is(err, ErrInvalidRefreshToken):
		return TokenResult{}, ErrInvalidRefreshToken
	case err != nil:
		return TokenResult{}, err
	case reused:
		return TokenResult{}, ErrRefreshTokenReused
	}
	return s.tokenResult(ctx, userFromDB(row.User), row.Session.ID, next)
}

// endReusedFamily is the transaction of a refresh token presented after
// it was exchanged: its family ends, unless the user is gone already.
func (s *Store) endReusedFamily(tx *txn, row db.GetRefreshTokenRow) error {
	if _, err := tx.lockUser(row.User.ID); errors.Is(err, ErrNotFound) {
		return nil // the user, their sessions and tokens are gone
	} else if err != nil {
		return err
	}
	return s.endFamily(tx, row)
}

// exchange is the transaction of a refresh: it marks the token of row used
// and adds the next one (nextHash) to its session, which counts as a use of
// the session. reused reports a token exchanged meanwhile by a concurrent
// refresh, whose family then ends. ErrInvalidRefreshToken: the user or the
// session ended since the token was read.
func (s *Store) exchange(tx *txn, row db.GetRefreshTokenRow, nextHash string) (reused bool, err error) {
	// The user's row first, as every transaction that writes a session
	// does (LockUser), so that this one and a deletion's cascade wait for
	// each other instead of deadlocking.
	if _, err := tx.lockUser(row.User.ID); errors.Is(err, ErrNotFound) {
		return false, ErrInvalidRefreshToken
	} else if err != nil {
		return false, err
	}
	// What was read before is asserted again here: the token is still live
	// (the update is a compare-and-swap), and its session still exists and
	// is live.
	n, err := tx.q.UseRefreshToken(tx.ctx, db.UseRefreshTokenParams{Now: sql.NullTime{Time: tx.now, Valid: true}, ID: row.RefreshToken.ID})
	if err != nil {
		return false, err
	}
	if n == 0 {
		return true, s.endFamily(tx, row)
	}
	sess, err := read(tx.ctx, tx.q.GetSessionByID, row.Session.ID)
	if errors.Is(err, ErrNotFound) {
		return false, ErrInvalidRefreshToken
	} else if err != nil {
		return false, err
	}
	if !s.live(sessionFromDB(sess), tx.now) {
		return false, ErrInvalidRefreshToken
	}
	if _, err := tx.q.RefreshSession(tx.ctx, db.RefreshSessionParams{Now: tx.now, ID: sess.ID}); err != nil {
		return false, err
	}
	return false, tx.q.CreateRefreshToken(tx.ctx, db.CreateRefreshTokenParams{SessionID: sess.ID, TokenHash: nextHash, Now: tx.now})
}

// endFamily ends the session of a reused refresh token, with its every
// refresh token, and records the reuse; a session already gone is left
// so, without an event.
func (s *Store) endFamily(tx *txn, row db.GetRefreshTokenRow) error {
	n, err := tx.q.DeleteSessionByID(tx.ctx, row.Session.ID)
	if err != nil || n == 0 {
		return err
	}
	tx.record(EventRefreshTokenReused, refOf(row.User), map[string]any{"session_id": row.Session.ID})
	return nil
}

// tokenResult signs the access token of the user's session and returns it
// with the refresh token.
func (s *Store) tokenResult(ctx context.Context, u User, sessionID int64, refresh string) (TokenResult, error) {
	keys, err := s.activeKeys(ctx)
	if err != nil {
		return TokenResult{}, wrap("issue tokens", err)
	}
	now := s.now()
	access, exp, err := s.signAccessToken(keys, u.PublicID, sessionID, now)
	if err != nil {
		return TokenResult{}, err
	}
	return TokenResult{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.cfg.AccessTokenLifetime / time.Second),
		RefreshToken: refresh,
		ExpiresAt:    exp,
		User:         u,
		SessionID:    sessionID,
	}, nil
}
