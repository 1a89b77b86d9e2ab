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
func (s *Store) requireSecondFactor(ctx context.Context, v verified) error {
	_, err := s.queries().GetTOTPFactor(ctx, v.user.ID)
	switch err = mapError(err); {
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
	if v.device != nil {
		deviceID = v.device.ID
	}
	var expires time.Time
	p := provenPassword{userID: v.user.ID, field: FieldPassword, password: v.password, hash: string(v.hash)}
	err = s.whileProven(ctx, "login", p, func(hash string) error {
		v.hash = []byte(hash)
		expires, err = s.createChallenge(ctx, v, tokenHash, deviceID)
		return err
	})
	if err != nil {
		return invalidOr(err)
	}
	return &SecondFactorRequiredError{Challenge: token, ExpiresAt: expires}
}

// createChallenge stores a login challenge for the verified user, if the
// stored hash is still the one the password matched (errCredentialChanged
// otherwise), bound to the password's change time.
func (s *Store) createChallenge(ctx context.Context, v verified, hash string, deviceID int64) (time.Time, error) {
	var expires time.Time
	err := s.inTx(ctx, "login", func(tx *txn) error {
		u, err := tx.lockUser(v.user.ID)
		if err != nil {
			return err
		}
		cred, err := tx.q.GetCredential(tx.ctx, u.ID)
		if err != nil {
			return mapError(err)
		}
		if subtle.ConstantTimeCompare([]byte(cred.PasswordHash), v.hash) != 1 {
			return errCredentialChanged
		}
		if v.throttle.shared != "" {
			if err := tx.clear(v.throttle.bucket); err != nil {
				return err
			}
		}
		expires = tx.now.Add(ChallengeLifetime)
		ch, err := tx.q.CreateMFAChallenge(tx.ctx, db.CreateMFAChallengeParams{
			UserID: u.ID, TokenHash: hash, PasswordChangedAt: cred.PasswordChangedAt, DeviceID: deviceID,
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
	return s.completeLogin(ctx, a, true, "")
}

// completeLogin is CompleteLogin, issuing a device token when issueDevice
// is set and the session's first refresh token when refreshHash is.
func (s *Store) completeLogin(ctx context.Context, a SecondFactor, issueDevice bool, refreshHash string) (LoginResult, error) {
	hash, ok := tokenHash(a.Challenge)
	if !ok {
		return LoginResult{}, ErrInvalidCredentials
	}
	ch, err := s.queries().GetMFAChallenge(ctx, hash)
	switch err = mapError(err); {
	case errors.Is(err, ErrNotFound):
		return LoginResult{}, ErrInvalidCredentials
	case err != nil:
		return LoginResult{}, wrap("login", err)
	}
	now := s.now()
	if subtle.ConstantTimeCompare([]byte(ch.TokenHash), []byte(hash)) != 1 || !now.Before(ch.ExpiresAt) ||
		ch.Failures >= MaxChallengeFailures || ch.CreatedAt.After(now.Add(MaxClockSkew)) {
		return LoginResult{}, ErrInvalidCredentials
	}
	u, err := s.queries().GetUserByID(ctx, ch.UserID)
	if err != nil {
		return LoginResult{}, credentialsOr("login", mapError(err))
	}
	t := throttle{
		bucket: accountBucket(scopeLogin, u.ID), policy: s.cfg.LoginThrottle, refused: EventLoginThrottled,
		subject: refOf(u), operation: "login",
	}
	var device *db.Device
	if d, ok := s.deviceOf(ctx, a.DeviceToken, u.ID); ok && d.ID == ch.DeviceID {
		device = &d
	}
	if ch.DeviceID != 0 {
		t.bucket, t.device = deviceBucket(ch.DeviceID), true
	}
	if err := s.check(ctx, t); err != nil {
		return LoginResult{}, err
	}
	if err := s.reserve(ctx, t); err != nil {
		return LoginResult{}, err
	}
	f, err := s.queries().GetTOTPFactor(ctx, u.ID)
	if err = mapError(err); errors.Is(err, ErrNotFound) {
		return LoginResult{}, s.failChallenge(ctx, t, ch.ID, "factor_removed") // removed meanwhile
	} else if err != nil {
		return LoginResult{}, wrap("login", err)
	}

	method := "totp"
	var (
		step   uint64
		rcHash string
		match  bool
	)
	if a.RecoveryCode != "" {
		method = "recovery_code"
		rcHash, match = recoveryCodeHash(a.RecoveryCode)
	} else {
		secret, err := s.cfg.SecretKeys.open(u.ID, f.KeyID, f.SecretCt)
		if err != nil {
			// A secret that does not decrypt (a row moved or altered, or
			// its key missing from the ring) verifies no code: the attempt
			// is counted and recorded like a wrong code, so the trail shows
			// the operator why this user cannot log in. A missing key is
			// also the server's error, and returned as such.
			ferr := s.failChallenge(ctx, t, ch.ID, "secret_unreadable")
			if errors.Is(err, ErrNoSecretKey) {
				return LoginResult{}, wrap("login", err)
			}
			return LoginResult{}, ferr
		}
		step, match = matchTOTP(secret, strings.TrimSpace(a.Code), now, defaultTOTP)
		match = match && int64(step) > f.LastStep
	}
	if !match {
		return LoginResult{}, s.failChallenge(ctx, t, ch.ID, "wrong_"+method)
	}

	g := &grant{throttle: t, device: device, presentToken: a.DeviceToken, issueDevice: issueDevice, refreshHash: refreshHash}
	g.secondFactor = func(tx *txn, u db.User) (map[string]any, error) {
		cred, err := tx.q.GetCredential(tx.ctx, u.ID)
		if err != nil {
			return nil, mapError(err)
		}
		if !cred.PasswordChangedAt.Equal(ch.PasswordChangedAt) {
			return nil, ErrInvalidCredentials // the password was changed, set or reset since
		}
		n, err := tx.q.ConsumeMFAChallenge(tx.ctx, db.ConsumeMFAChallengeParams{ID: ch.ID, MaxFailures: MaxChallengeFailures, Now: tx.now})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, ErrInvalidCredentials // spent, dead or expired meanwhile
		}
		detail := map[string]any{"second_factor": method}
		if method == "totp" {
			n, err := tx.q.SpendTOTPStep(tx.ctx, db.SpendTOTPStepParams{Step: int64(step), UserID: u.ID, SecretCt: f.SecretCt})
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, errWrongCode // the code was spent meanwhile
			}
			return detail, nil
		}
		n, err = tx.q.SpendRecoveryCode(tx.ctx, db.SpendRecoveryCodeParams{UserID: u.ID, CodeHash: rcHash})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errWrongCode
		}
		ended, err := tx.endOtherSessions(u.ID, 0)
		if err != nil {
			return nil, err
		}
		left, err := tx.q.CountRecoveryCodes(tx.ctx, u.ID)
		if err != nil {
			return nil, err
		}
		tx.record(EventRecoveryCodeUsed, refOf(u), map[string]any{"sessions_ended": ended, "left": left})
		return detail, nil
	}
	sess, dev, err := s.createSession(ctx, u.ID, nil, g)
	switch {
	case errors.Is(err, errWrongCode):
		return LoginResult{}, s.failChallenge(ctx, t, ch.ID, "wrong_"+method)
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrNotFound):
		return LoginResult{}, ErrInvalidCredentials
	case err != nil:
		return LoginResult{}, err
	}
	u2, err := s.queries().GetUserByID(ctx, u.ID)
	if err != nil {
		u2 = u
	}
	return LoginResult{User: userFromDB(u2), Session: sess, DeviceToken: dev.token, DeviceExpiresAt: dev.expiresAt}, nil
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
