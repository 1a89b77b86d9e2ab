package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/credstore/credstore/db"
)

// requireSecondFactor returns nil when the verified user has no second
// factor; otherwise it issues a login challenge and returns it as
// *SecondFactorRequiredError. The account's throttle bucket (or the
// device's) is not cleared: only the second factor completes the login, so
// a stolen password does not buy unthrottled guesses at codes. The
// identifier's own bucket is: the password was right, and the challenge
// does not know which identifier its login typed.
func (s *Store) requireSecondFactor(ctx context.Context, p proof) error {
	_, err := read(ctx, s.q.GetTOTPFactor, p.user.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return wrap("login", err)
	}
	token, tokenHash, err := newToken(s.cfg.Rand)
	if err != nil {
		return wrap("login", err)
	}
	var deviceID int64
	if p.device != nil {
		deviceID = p.device.ID
	}
	var expires time.Time
	err = s.whileProven(ctx, "login", *p.password, func(hash string) error {
		expires, err = s.createChallenge(ctx, p, hash, tokenHash, deviceID)
		return err
	})
	if errors.Is(err, ErrAccountDisabled) {
		return s.refuseDisabled(ctx, p.throttle) // disabled since the password was checked
	} else if err != nil {
		return invalidOr(err)
	}
	return &SecondFactorRequiredError{Challenge: token, ExpiresAt: expires}
}

// createChallenge stores a login challenge, whose token has the hash
// tokenHash, for the user of p if their stored hash is still proven
// (errCredentialChanged otherwise), bound to the password's change time.
func (s *Store) createChallenge(ctx context.Context, p proof, proven, tokenHash string, deviceID int64) (time.Time, error) {
	var expires time.Time
	err := s.inTx(ctx, "login", func(tx *txn) error {
		u, err := tx.lockUser(p.user.ID)
		if err != nil {
			return err
		}
		cred, err := tx.q.GetCredential(tx.ctx, u.ID)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(cred.PasswordHash), []byte(proven)) != 1 {
			return errCredentialChanged
		}
		if u.DisabledAt.Valid {
			return ErrAccountDisabled
		}
		if p.throttle.shared != "" {
			if err := tx.clear(p.throttle.bucket); err != nil {
				return err
			}
		}
		expires = tx.now.Add(ChallengeLifetime)
		ch, err := tx.q.CreateMFAChallenge(tx.ctx, db.CreateMFAChallengeParams{
			UserID: u.ID, TokenHash: tokenHash, PasswordChangedAt: cred.PasswordChangedAt, DeviceID: deviceID,
			Now: tx.now, ExpiresAt: expires,
		})
		if err != nil {
			return err
		}
		tx.recordBy(EventSecondFactorRequired, refOf(u), Actor{Kind: ActorAnonymous}, map[string]any{"challenge_id": ch.ID})
		return nil
	})
	return expires, err
}

// SecondFactor answers a login challenge: a TOTP code, or a recovery code.
type SecondFactor struct {
	Challenge    string // from *SecondFactorRequiredError
	Code         string // a current TOTP code, or
	RecoveryCode string // one of the user's recovery codes
	// DeviceToken is the device cookie the client sent, as in LoginAttempt.
	DeviceToken string
}

// errWrongCode carries a wrong second factor out of a transaction.
var errWrongCode = errors.New("wrong second factor")

// CompleteLogin completes a login that returned *SecondFactorRequiredError:
// with a current TOTP code (never one already accepted: RFC 6238 §5.2), or
// with a recovery code (spent, and every other session of the user ends),
// it starts the session, as LoginWithDevice does.
//
// A challenge works once, for ChallengeLifetime, and dies after
// MaxChallengeFailures wrong codes; the codes also count in the account's
// throttle bucket (or the device's). A challenge also dies when the user's
// password or factor changes.
//
// Errors: ErrInvalidCredentials for every failure (unknown, expired, spent
// or dead challenge; wrong, replayed or spent code), *ThrottledError, and
// the database's.
func (s *Store) CompleteLogin(ctx context.Context, a SecondFactor) (LoginResult, error) {
	g, err := s.secondFactorLogin(ctx, a, outDevice)
	return g.result(), err
}

// factorProof is a second factor verified against a login's challenge,
// for the grant stage to spend: the challenge (consumed), and the TOTP
// step or the recovery code's hash it matched.
type factorProof struct {
	challenge db.MfaChallenge
	factor    db.TotpFactor
	method    string // "totp" or "recovery_code", for the audit trail
	step      uint64 // the TOTP code's step, spent
	rcHash    string // the recovery code's hash, spent
}

// verifySecondFactor is the verify stage of a login's second step: the
// challenge is live, the attempt is counted in the account's throttle
// bucket (or the device's), and the code matches the user's factor. A
// wrong code counts against the challenge (failChallenge).
func (s *Store) verifySecondFactor(ctx context.Context, a SecondFactor) (proof, error) {
	ch, err := s.liveChallenge(ctx, a.Challenge)
	if err != nil {
		return proof{}, err
	}
	u, err := read(ctx, s.q.GetUserByID, ch.UserID)
	if err != nil {
		return proof{}, credentialsOr("login", err)
	}
	p := proof{user: u, throttle: throttle{
		bucket: accountBucket(scopeLogin, u.ID), policy: s.cfg.LoginThrottle, refused: EventLoginThrottled,
		subject: refOf(u), operation: "login",
	}}
	if d, ok := s.deviceOf(ctx, a.DeviceToken, u.ID); ok && d.ID == ch.DeviceID {
		p.device, p.deviceToken = &d, a.DeviceToken
	}
	if ch.DeviceID != 0 {
		p.throttle.bucket, p.throttle.device = deviceBucket(ch.DeviceID), true
	}
	if err := s.check(ctx, p.throttle); err != nil {
		return proof{}, err
	}
	if err := s.reserve(ctx, p.throttle); err != nil {
		return proof{}, err
	}
	f, err := read(ctx, s.q.GetTOTPFactor, u.ID)
	if errors.Is(err, ErrNotFound) {
		return proof{}, s.failChallenge(ctx, p.throttle, ch.ID, "factor_removed") // removed meanwhile
	} else if err != nil {
		return proof{}, wrap("login", err)
	}
	fp := factorProof{challenge: ch, factor: f, method: "totp"}
	var match bool
	if a.RecoveryCode != "" {
		fp.method = "recovery_code"
		fp.rcHash, match = recoveryCodeHash(a.RecoveryCode)
	} else {
		secret, err := s.secretKeys().open(u.ID, f.KeyID, f.SecretCt)
		if err != nil {
			// A secret that does not decrypt (a row moved or altered, or
			// its key missing from the ring) verifies no code: the attempt
			// is counted and recorded like a wrong code, so the trail shows
			// the operator why this user cannot log in. A missing key is
			// also the server's error, and returned as such.
			ferr := s.failChallenge(ctx, p.throttle, ch.ID, "secret_unreadable")
			if errors.Is(err, ErrNoSecretKey) {
				return proof{}, wrap("login", err)
			}
			return proof{}, ferr
		}
		fp.step, match = matchTOTP(secret, strings.TrimSpace(a.Code), s.now(), defaultTOTP)
		match = match && int64(fp.step) > f.LastStep
	}
	if !match {
		return proof{}, s.failChallenge(ctx, p.throttle, ch.ID, "wrong_"+fp.method)
	}
	if u.DisabledAt.Valid {
		return proof{}, s.refuseDisabled(ctx, p.throttle)
	}
	p.factor = &fp
	return p, nil
}

// liveChallenge returns the login challenge whose token is token, if it is
// live: not expired, not dead of failures, not from a clock far ahead.
// Every other case is ErrInvalidCredentials.
func (s *Store) liveChallenge(ctx context.Context, token string) (db.MfaChallenge, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return db.MfaChallenge{}, ErrInvalidCredentials
	}
	ch, err := read(ctx, s.q.GetMFAChallenge, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return db.MfaChallenge{}, ErrInvalidCredentials
	case err != nil:
		return db.MfaChallenge{}, wrap("login", err)
	}
	now := s.now()
	if subtle.ConstantTimeCompare([]byte(ch.TokenHash), []byte(hash)) != 1 || !now.Before(ch.ExpiresAt) ||
		ch.Failures >= MaxChallengeFailures || ch.CreatedAt.After(now.Add(MaxClockSkew)) {
		return db.MfaChallenge{}, ErrInvalidCredentials
	}
	return ch, nil
}

// spendFactor is the grant stage's part of a second factor, in the
// transaction that starts the session, after the user's row is locked: it
// re-asserts the challenge (the password unchanged since it was issued, the
// challenge still live) and consumes it, spends the TOTP step or the
// recovery code (errWrongCode when a concurrent login spent it first), and
// adds to detail what the login.succeeded event says of it. A recovery
// code also ends every other session of the user.
func (tx *txn) spendFactor(u db.User, fp factorProof, detail map[string]any) error {
	cred, err := tx.q.GetCredential(tx.ctx, u.ID)
	if err != nil {
		return err
	}
	if !cred.PasswordChangedAt.Equal(fp.challenge.PasswordChangedAt) {
		return ErrInvalidCredentials // the password was changed, set or reset since
	}
	n, err := tx.q.ConsumeMFAChallenge(tx.ctx, db.ConsumeMFAChallengeParams{ID: fp.challenge.ID, MaxFailures: MaxChallengeFailures, Now: tx.now})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrInvalidCredentials // spent, dead or expired meanwhile
	}
	detail["second_factor"] = fp.method
	if fp.method == "totp" {
		n, err := tx.q.SpendTOTPStep(tx.ctx, db.SpendTOTPStepParams{Step: int64(fp.step), UserID: u.ID, SecretCt: fp.factor.SecretCt})
		if err != nil {
			return err
		}
		if n == 0 {
			return errWrongCode // the code was spent meanwhile
		}
		return nil
	}
	n, err = tx.q.SpendRecoveryCode(tx.ctx, db.SpendRecoveryCodeParams{UserID: u.ID, CodeHash: fp.rcHash})
	if err != nil {
		return err
	}
	if n == 0 {
		return errWrongCode
	}
	ended, err := tx.endOtherSessions(u.ID, 0)
	if err != nil {
		return err
	}
	left, err := tx.q.CountRecoveryCodes(tx.ctx, u.ID)
	if err != nil {
		return err
	}
	tx.record(EventRecoveryCodeUsed, refOf(u), map[string]any{"sessions_ended": ended, "left": left})
	return nil
}

// failChallenge counts a wrong code against the challenge (which dies at
// MaxChallengeFailures) and records it, and returns ErrInvalidCredentials.
// Like recordFailure it runs even when ctx has ended.
func (s *Store) failChallenge(ctx context.Context, t throttle, challengeID int64, reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureRecordTimeout)
	defer cancel()
	err := s.inTx(ctx, "login", func(tx *txn) error {
		if _, err := tx.q.FailMFAChallenge(tx.ctx, db.FailMFAChallengeParams{ID: challengeID, MaxFailures: MaxChallengeFailures, Now: tx.now}); err != nil {
			return err
		}
		tx.recordBy(EventLoginFailed, t.subject, Actor{Kind: ActorAnonymous},
			map[string]any{"reason": reason, "device": t.device})
		return nil
	})
	if err != nil {
		return wrap("login", err)
	}
	return ErrInvalidCredentials
}

// credentialsOr returns ErrInvalidCredentials for ErrNotFound (a login's
// user or factor went away) and wraps anything else with op.
func credentialsOr(op string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidCredentials
	}
	return wrap(op, err)
}
