package auth

import (
	"context"
	"errors"
	"time"

	"github.com/credstore/credstore/db"
)

// The login pipeline. Every way in (Login, LoginSession, LoginWithDevice,
// IssueTokens, CompleteLogin, CompleteTokenLogin) runs two stages and
// names what it hands out:
//
//   - verify, outside any transaction because bcrypt is slow: a password
//     (authenticate, then requireSecondFactor for a user with a factor),
//     or a second factor against a login's challenge (verifySecondFactor).
//     Its result is a proof.
//   - grant, one transaction that re-asserts the proof (the password hash
//     it matched, the challenge and code it spends), clears the throttle
//     buckets, records the success and hands out the outcome.
//
// A password written between the two stages voids the proof; a rehash of
// the same password does not (whileProven verifies again and retries).

// outcome is what a successful login hands out.
type outcome int

const (
	outUser    outcome = iota // the user, and nothing started (Login)
	outSession                // a session (LoginSession)
	outDevice                 // a session, and a device token when none was presented (LoginWithDevice, CompleteLogin)
	outTokens                 // a session with the first refresh token of its family (IssueTokens, CompleteTokenLogin)
)

// proof is what the verify stage established, for the grant stage to
// re-assert and act on.
type proof struct {
	user     db.User
	throttle throttle // the buckets the attempt counted in, cleared by the grant

	device      *db.Device // the account's device token the attempt presented, renewed by the grant
	deviceToken string     // and its value

	password *provenPassword // a password stage: the hash it matched is re-asserted
	factor   *factorProof    // a second-factor stage: spent by the grant
}

// deviceState says which device token the attempt presented, for the audit
// trail.
func (p proof) deviceState() string {
	if p.device != nil {
		return "known"
	}
	return "none"
}

// granted is what the grant stage handed out.
type granted struct {
	user    User
	session Session
	device  deviceGrant
	refresh string // the session's first refresh token (outTokens)
}

// deviceGrant is a device token a login handed out or renewed.
type deviceGrant struct {
	token     string
	expiresAt time.Time
}

func (g granted) result() LoginResult {
	return LoginResult{User: g.user, Session: g.session, DeviceToken: g.device.token, DeviceExpiresAt: g.device.expiresAt}
}

// passwordLogin is the pipeline of a login by password.
func (s *Store) passwordLogin(ctx context.Context, a LoginAttempt, out outcome) (granted, error) {
	if err := s.canGrant(ctx, out); err != nil {
		return granted{}, err
	}
	p, err := s.authenticate(ctx, a)
	if err != nil {
		return granted{}, err
	}
	if err := s.requireSecondFactor(ctx, p); err != nil {
		return granted{}, err
	}
	return s.grant(ctx, p, out)
}

// secondFactorLogin is the pipeline of a login's second step: a code
// against the challenge its password stage issued.
func (s *Store) secondFactorLogin(ctx context.Context, a SecondFactor, out outcome) (granted, error) {
	if err := s.canGrant(ctx, out); err != nil {
		return granted{}, err
	}
	p, err := s.verifySecondFactor(ctx, a)
	if err != nil {
		return granted{}, err
	}
	g, err := s.grant(ctx, p, out)
	if errors.Is(err, errWrongCode) {
		// The code was spent meanwhile, by a concurrent login with it.
		return granted{}, s.failChallenge(ctx, p.throttle, p.factor.challenge.ID, "wrong_"+p.factor.method)
	}
	return g, err
}

// canGrant refuses, before any credential is looked at, an outcome the
// store cannot hand out: tokens need Config.SecretKeys.
func (s *Store) canGrant(ctx context.Context, out outcome) error {
	if out != outTokens {
		return nil
	}
	if _, err := s.activeKeys(ctx); err != nil {
		return wrap("issue tokens", err)
	}
	return nil
}

// grant is the grant stage: it hands out out for the proof p, in the
// transaction that re-asserts p, verifying a password again when a rehash
// committed since it was checked.
//
// Errors: ErrInvalidCredentials (unwrapped) when the proof no longer holds
// (the password changed, the user or the challenge went); ErrAccountDisabled
// (unwrapped, and recorded) when the proof holds but an administrator
// disabled the account meanwhile; errWrongCode when the second factor was
// spent meanwhile; the database's.
func (s *Store) grant(ctx context.Context, p proof, out outcome) (granted, error) {
	g, err := s.grantProven(ctx, p, out)
	if errors.Is(err, ErrAccountDisabled) {
		// Disabled since the verify stage, with the proof still good.
		return granted{}, s.refuseDisabled(ctx, p.throttle)
	}
	return g, err
}

// grantProven is grant but for the record of a refusal for a disabled
// account.
func (s *Store) grantProven(ctx context.Context, p proof, out outcome) (granted, error) {
	if out == outUser {
		g, err := s.grantUser(ctx, p)
		return g, invalidOr(err)
	}
	if p.password == nil {
		g, err := s.grantSession(ctx, p, out, "")
		return g, invalidOr(err)
	}
	var g granted
	err := s.whileProven(ctx, "login", *p.password, func(hash string) error {
		var err error
		g, err = s.grantSession(ctx, p, out, hash)
		return err
	})
	return g, invalidOr(err)
}

// grantUser is the grant of Login, which starts nothing: it re-checks that
// the account is not disabled, clears the attempt's buckets and records the
// success.
func (s *Store) grantUser(ctx context.Context, p proof) (granted, error) {
	err := s.inTx(ctx, "login", func(tx *txn) error {
		u, err := tx.lockUser(p.user.ID)
		if err != nil {
			return err
		}
		if u.DisabledAt.Valid {
			return ErrAccountDisabled
		}
		if err := tx.clear(p.throttle.bucket, p.throttle.shared); err != nil {
			return err
		}
		tx.record(EventLoginSucceeded, refOf(p.user), map[string]any{"device": p.deviceState()})
		return nil
	})
	if err != nil {
		return granted{}, err
	}
	return granted{user: userFromDB(p.user)}, nil
}

// grantSession is the grant of a login that starts a session: in one
// transaction, after locking the user's row (see LockUser in
// queries/users.sql), it spends p's second factor, re-asserts that the
// user's stored hash is still proven ("" asserts nothing;
// errCredentialChanged otherwise), starts the session, clears the
// attempt's buckets, renews or issues the device token, adds the first
// refresh token for outTokens, and records EventLoginSucceeded.
func (s *Store) grantSession(ctx context.Context, p proof, out outcome, proven string) (granted, error) {
	var tokens struct{ session, sessionHash, device, deviceHash, refresh, refreshHash string }
	var err error
	if tokens.session, tokens.sessionHash, err = newToken(s.cfg.Rand); err != nil {
		return granted{}, wrap("login", err)
	}
	// A device token is drawn outside the transaction, in case the
	// presented one has expired meanwhile and a new one is needed.
	if out == outDevice || p.device != nil {
		if tokens.device, tokens.deviceHash, err = newToken(s.cfg.Rand); err != nil {
			return granted{}, wrap("login", err)
		}
	}
	if out == outTokens {
		if tokens.refresh, tokens.refreshHash, err = newToken(s.cfg.Rand); err != nil {
			return granted{}, wrap("login", err)
		}
	}
	var g granted
	err = s.inTx(ctx, "login", func(tx *txn) error {
		u, err := tx.lockUser(p.user.ID)
		if err != nil {
			return err
		}
		detail := map[string]any{}
		if p.factor != nil {
			if err := tx.spendFactor(u, *p.factor, detail); err != nil {
				return err
			}
		}
		if err := tx.stillPassword(u.ID, proven); err != nil {
			return err
		}
		// After the proof: only its holder learns that the account is
		// disabled. After the lock: a disable that committed before it is
		// seen here, and one after it finds this session to end.
		if u.DisabledAt.Valid {
			return ErrAccountDisabled
		}
		row, err := tx.insertSession(u.ID, tokens.sessionHash, s.cfg.SessionLifetime)
		if err != nil {
			return err
		}
		if err := tx.clear(p.throttle.bucket, p.throttle.shared); err != nil {
			return err
		}
		dev, state, err := s.grantDevice(tx, u.ID, p, out == outDevice, tokens.device, tokens.deviceHash)
		if err != nil {
			return err
		}
		detail["session_id"], detail["device"] = row.ID, state
		if out == outTokens {
			err := tx.q.CreateRefreshToken(tx.ctx, db.CreateRefreshTokenParams{SessionID: row.ID, TokenHash: tokens.refreshHash, Now: tx.now})
			if err != nil {
				return err
			}
			detail["tokens"] = true
		}
		tx.record(EventLoginSucceeded, refOf(u), detail)
		g = granted{user: userFromDB(u), session: sessionFromDB(row), device: dev, refresh: tokens.refresh}
		g.session.Token = tokens.session
		return nil
	})
	if err != nil {
		return granted{}, err
	}
	return g, nil
}
