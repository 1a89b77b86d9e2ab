package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"image"
	"image/draw"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/credstore/credstore/db"
)

// TOTP parameters: RFC 6238 as every authenticator app reads it.
const (
	totpPeriod     = 30 * time.Second
	totpSecretSize = 20 // 160 bits, RFC 4226's recommendation
	// totpSkew is how many steps either side of the current one a code may
	// be from: one, for a phone whose clock is a little off, and no more.
	totpSkew = 1
)

// EnrollmentLifetime is how long a pending TOTP enrollment waits for its
// confirming code.
const EnrollmentLifetime = 15 * time.Minute

// MaxChallengeFailures is how many wrong codes a login challenge takes
// before it dies.
const MaxChallengeFailures = 5

// ChallengeLifetime is how long a login challenge can be answered.
const ChallengeLifetime = 5 * time.Minute

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// totpParams are a TOTP verifier's hash and digit count: SHA-1 and 6 digits
// for every factor credstore enrolls; the RFC's other rows for its tests.
type totpParams struct {
	alg    otp.Algorithm
	digits otp.Digits
}

var defaultTOTP = totpParams{alg: otp.AlgorithmSHA1, digits: otp.DigitsSix}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(totpPeriod/time.Second)
}

// matchTOTP returns the time step within totpSkew of now whose code is
// code, comparing in constant time and trying every step whatever matches.
// The code is computed by the otp library (HOTP of the step, RFC 4226
// truncation), not here.
func matchTOTP(secret []byte, code string, now time.Time, p totpParams) (uint64, bool) {
	if len(code) != p.digits.Length() {
		return 0, false
	}
	enc := b32.EncodeToString(secret)
	cur := totpStep(now)
	var found uint64
	ok := 0
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := hotp.GenerateCodeCustom(enc, step, hotp.ValidateOpts{Digits: p.digits, Algorithm: p.alg})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// TOTPEnrollment is a pending TOTP factor: the secret to put into an
// authenticator app, as text and as an otpauth:// URI (what the QR code
// holds). It becomes the user's factor once ConfirmTOTP gets a code it
// made. Secret and URI are secrets: show them to the user only.
type TOTPEnrollment struct {
	Secret    string // base32, as apps take it typed in
	URI       string // otpauth://totp/<issuer>:<email>?secret=…&issuer=…
	ExpiresAt time.Time
}

// EnrollTOTP starts a TOTP enrollment for the user: a new random 160-bit
// secret, stored encrypted, pending until ConfirmTOTP. A new enrollment
// replaces a pending one; an active factor stays active until a new one is
// confirmed.
//
// Errors: ErrNoSecretKey without Config.SecretKeys; ErrNotFound.
func (s *Store) EnrollTOTP(ctx context.Context, userID int64) (TOTPEnrollment, error) {
	if s.secretKeys() == nil {
		return TOTPEnrollment{}, wrap("enroll totp", ErrNoSecretKey)
	}
	u, err := read(ctx, s.q.GetUserByID, userID)
	if err != nil {
		return TOTPEnrollment{}, wrap("enroll totp", err)
	}
	secret := make([]byte, totpSecretSize)
	if _, err := s.cfg.Rand.Read(secret); err != nil {
		return TOTPEnrollment{}, wrap("enroll totp", err)
	}
	keyID, ct, err := s.secretKeys().seal(s.cfg.Rand, userID, secret)
	if err != nil {
		return TOTPEnrollment{}, wrap("enroll totp", err)
	}
	var e TOTPEnrollment
	err = s.inTx(ctx, "enroll totp", func(tx *txn) error {
		if _, err := tx.lockUser(userID); err != nil {
			return err
		}
		e.ExpiresAt = tx.now.Add(EnrollmentLifetime)
		if err := tx.q.UpsertTOTPEnrollment(tx.ctx, db.UpsertTOTPEnrollmentParams{
			UserID: userID, KeyID: keyID, SecretCt: ct, Now: tx.now, ExpiresAt: e.ExpiresAt,
		}); err != nil {
			return err
		}
		tx.record(EventTOTPEnrollmentStarted, refOf(u), nil)
		return nil
	})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	key, err := s.totpKey(u.Email, secret)
	if err != nil {
		return TOTPEnrollment{}, wrap("enroll totp", err)
	}
	e.Secret, e.URI = key.Secret(), key.URL()
	return e, nil
}

// totpKey is the otp library's key for a secret: its URI and its QR code.
func (s *Store) totpKey(email string, secret []byte) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: s.cfg.TOTPIssuer, AccountName: email, Secret: secret,
		Period: uint(totpPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// TOTPEnrollmentQR returns the pending enrollment's otpauth URI as a QR
// code, a size×size PNG (size between 64 and 1024), for an authenticator
// app to scan.
//
// Errors: ErrNoEnrollment when none is pending (or it expired);
// ErrNoSecretKey; ErrNotFound.
func (s *Store) TOTPEnrollmentQR(ctx context.Context, userID int64, size int) ([]byte, error) {
	size = min(max(size, 64), 1024)
	u, err := read(ctx, s.q.GetUserByID, userID)
	if err != nil {
		return nil, wrap("totp qr code", err)
	}
	secret, _, err := s.pendingSecret(ctx, userID)
	if err != nil {
		return nil, wrap("totp qr code", err)
	}
	key, err := s.totpKey(u.Email, secret)
	if err != nil {
		return nil, wrap("totp qr code", err)
	}
	// The code inside a white quiet zone of about a tenth of the image on
	// every side, which scanners need to find it (on a dark page above all).
	margin := size / 10
	code, err := key.Image(size-2*margin, size-2*margin)
	if err != nil {
		return nil, wrap("totp qr code", err)
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, code.Bounds().Add(image.Pt(margin, margin)), code, code.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, wrap("totp qr code", err)
	}
	return buf.Bytes(), nil
}

// pendingSecret decrypts the user's live pending enrollment.
func (s *Store) pendingSecret(ctx context.Context, userID int64) ([]byte, db.TotpEnrollment, error) {
	e, err := read(ctx, s.q.GetTOTPEnrollment, userID)
	if errors.Is(err, ErrNotFound) {
		return nil, e, ErrNoEnrollment
	} else if err != nil {
		return nil, e, err
	}
	if !s.now().Before(e.ExpiresAt) {
		return nil, e, ErrNoEnrollment
	}
	secret, err := s.secretKeys().open(userID, e.KeyID, e.SecretCt)
	return secret, e, err
}

// TOTPConfirmation confirms a pending TOTP enrollment.
type TOTPConfirmation struct {
	// Code is a current code of the pending secret, from the user's app.
	Code string
	// Password is the user's password, always required: a session alone
	// (a stolen one) must not be enough to put a factor on the account,
	// whether it is the first one (which would lock the owner out behind
	// the thief's device) or a replacement.
	Password string
	// KeepSessionID is the session making the change, which stays; every
	// other session of the user ends.
	KeepSessionID int64
}

// ConfirmTOTP activates the user's pending enrollment if c.Code is a
// current code of its secret and c.Password is the user's password,
// replacing any factor the user had, and returns a new set of
// RecoveryCodeCount recovery codes (the old set, if any, is void). Every
// other session of the user but c.KeepSessionID ends, and so does any
// pending login challenge. The code confirmed is spent: it cannot log in.
//
// Errors: ErrInvalidCode when the code is wrong (the enrollment stays, for
// another try); ErrInvalidCredentials when the password is wrong or
// changed meanwhile (throttled like a password change); ErrNoEnrollment;
// ErrNoSecretKey.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, c TOTPConfirmation) ([]string, error) {
	secret, e, err := s.pendingSecret(ctx, userID)
	if err != nil {
		return nil, wrap("confirm totp", err)
	}
	step, ok := matchTOTP(secret, strings.TrimSpace(c.Code), s.now(), defaultTOTP)
	if !ok {
		return nil, ErrInvalidCode
	}
	f, err := read(ctx, s.q.GetTOTPFactor, userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, wrap("confirm totp", err)
	}
	if err == nil && f.SecretCt == e.SecretCt {
		return nil, wrap("confirm totp", ErrNoEnrollment) // this enrollment, confirmed by a concurrent call
	}
	hash, t, verr, err := s.verifyCurrentPassword(ctx, "confirm totp", userID, FieldPassword, c.Password)
	if err != nil {
		return nil, err
	}
	if verr != nil {
		return nil, s.currentPasswordFailed(ctx, t, "", verr)
	}
	codes, hashes, err := newRecoveryCodes(s.cfg.Rand)
	if err != nil {
		return nil, wrap("confirm totp", err)
	}
	p := provenPassword{
		userID: userID, field: FieldPassword, password: c.Password, hash: hash,
		failed: func(err error) error { return s.currentPasswordFailed(ctx, t, "", err) },
	}
	err = s.whileProven(ctx, "confirm totp", p, func(hash string) error {
		return s.confirmTOTP(ctx, userID, c, e, step, hashes, hash)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// confirmTOTP is ConfirmTOTP's transaction: it stores the enrollment e as
// the user's factor, with step as its last accepted step and hashes as its
// recovery codes, if the user's password hash is still hash
// (errCredentialChanged otherwise: a reset or a change that committed
// meanwhile voids the confirmation; a rehash is retried by the caller).
func (s *Store) confirmTOTP(ctx context.Context, userID int64, c TOTPConfirmation, e db.TotpEnrollment, step uint64, hashes []string, hash string) error {
	return s.inTx(ctx, "confirm totp", func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if err != nil {
			return err
		}
		if err := tx.stillPassword(userID, hash); err != nil {
			return err
		}
		n, err := tx.q.ConsumeTOTPEnrollment(tx.ctx, db.ConsumeTOTPEnrollmentParams{UserID: userID, SecretCt: e.SecretCt, Now: tx.now})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNoEnrollment // replaced or spent meanwhile
		}
		_, err = read(tx.ctx, tx.q.GetTOTPFactor, userID)
		replacing := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		// The password was right: the attempt's bucket starts again, as
		// ChangePassword's does.
		if err := tx.clear(changeBucket(tx.ctx, userID)); err != nil {
			return err
		}
		if err := tx.q.UpsertTOTPFactor(tx.ctx, db.UpsertTOTPFactorParams{
			UserID: userID, KeyID: e.KeyID, SecretCt: e.SecretCt, LastStep: int64(step), Now: tx.now,
		}); err != nil {
			return err
		}
		if err := tx.replaceRecoveryCodes(userID, hashes); err != nil {
			return err
		}
		ended, err := tx.endOtherSessions(userID, c.KeepSessionID)
		if err != nil {
			return err
		}
		tx.record(EventTOTPEnrolled, refOf(u), map[string]any{"sessions_ended": ended, "replaced": replacing})
		return nil
	})
}

// endOtherSessions ends every session of the user but keep, and every
// pending login challenge: a change to the second factor is a change of
// credential.
func (tx *txn) endOtherSessions(userID, keep int64) (int64, error) {
	if _, err := tx.q.DeleteUserMFAChallenges(tx.ctx, userID); err != nil {
		return 0, err
	}
	return tx.q.DeleteOtherUserSessions(tx.ctx, db.DeleteOtherUserSessionsParams{UserID: userID, KeepID: keep})
}

// replaceRecoveryCodes voids the user's recovery codes and stores hashes.
func (tx *txn) replaceRecoveryCodes(userID int64, hashes []string) error {
	if _, err := tx.q.DeleteRecoveryCodes(tx.ctx, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if err := tx.q.InsertRecoveryCode(tx.ctx, db.InsertRecoveryCodeParams{UserID: userID, CodeHash: h, Now: tx.now}); err != nil {
			return err
		}
	}
	return nil
}

// checkSecondFactor verifies the user's password and a current TOTP code,
// as removing the factor or regenerating codes asks, throttled like a
// password change. It returns the step the code matched, the factor, and
// the password hash the password was verified against (for the
// transaction that acts on the check to re-assert).
func (s *Store) checkSecondFactor(ctx context.Context, op string, userID int64, password, code string) (uint64, db.TotpFactor, string, error) {
	f, err := read(ctx, s.q.GetTOTPFactor, userID)
	if errors.Is(err, ErrNotFound) {
		return 0, f, "", ErrNoSecondFactor
	} else if err != nil {
		return 0, f, "", wrap(op, err)
	}
	hash, t, perr, err := s.verifyCurrentPassword(ctx, op, userID, FieldPassword, password)
	if err != nil {
		return 0, f, "", err
	}
	var step uint64
	codeOK := false
	if secret, err := s.secretKeys().open(userID, f.KeyID, f.SecretCt); err == nil {
		step, codeOK = matchTOTP(secret, strings.TrimSpace(code), s.now(), defaultTOTP)
		codeOK = codeOK && int64(step) > f.LastStep
	} else if !errors.Is(err, errSecretUnreadable) {
		return 0, f, "", wrap(op, err)
	}
	if perr == nil && !codeOK {
		perr = ErrInvalidCredentials
	}
	if perr != nil {
		err := s.currentPasswordFailed(ctx, t, "wrong_password_or_code", perr)
		if errors.Is(err, ErrInvalidCredentials) {
			err = ErrInvalidCredentials // one error for a wrong password and a wrong code
		}
		return 0, f, "", err
	}
	return step, f, hash, nil
}

// RemoveTOTP removes the user's TOTP factor and recovery codes, as the user
// does with their password and a current code (spent by this call). Every
// other session of the user but keepSessionID ends.
//
// Errors: ErrInvalidCredentials for a wrong password or code (one error for
// both, throttled like a password change); ErrNoSecondFactor.
func (s *Store) RemoveTOTP(ctx context.Context, userID int64, password, code string, keepSessionID int64) error {
	step, f, hash, err := s.checkSecondFactor(ctx, "remove totp", userID, password, code)
	if err != nil {
		return err
	}
	p := provenPassword{userID: userID, field: FieldPassword, password: password, hash: hash}
	return s.whileProven(ctx, "remove totp", p, func(hash string) error {
		return s.removeTOTP(ctx, "remove totp", userID, keepSessionID, &f, step, hash)
	})
}

// AdminRemoveTOTP removes the user's TOTP factor and recovery codes without
// asking for them, as an administrator does for a user who lost their
// device, and ends every session of the user. Record who did it with
// WithActor.
//
// Errors: ErrNoSecondFactor; ErrNotFound.
func (s *Store) AdminRemoveTOTP(ctx context.Context, userID int64) error {
	return s.removeTOTP(ctx, "admin remove totp", userID, 0, nil, 0, "")
}

// removeTOTP removes the user's factor; with f set, only if it is still f,
// spending step, and if the user's password hash is still proven
// (errCredentialChanged otherwise).
func (s *Store) removeTOTP(ctx context.Context, op string, userID, keep int64, f *db.TotpFactor, step uint64, proven string) error {
	return s.inTx(ctx, op, func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if err != nil {
			return err
		}
		if err := tx.stillPassword(userID, proven); err != nil {
			return err
		}
		if f != nil {
			// The code is spent, and the factor must be the one it matched.
			n, err := tx.q.SpendTOTPStep(tx.ctx, db.SpendTOTPStepParams{Step: int64(step), UserID: userID, SecretCt: f.SecretCt})
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrInvalidCredentials
			}
			// The password and code were right: the attempt's bucket
			// starts again, as ChangePassword's does.
			if err := tx.clear(changeBucket(tx.ctx, userID)); err != nil {
				return err
			}
		}
		n, err := tx.q.DeleteTOTPFactor(tx.ctx, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNoSecondFactor
		}
		if _, err := tx.q.DeleteTOTPEnrollment(tx.ctx, userID); err != nil {
			return err
		}
		if _, err := tx.q.DeleteRecoveryCodes(tx.ctx, userID); err != nil {
			return err
		}
		ended, err := tx.endOtherSessions(userID, keep)
		if err != nil {
			return err
		}
		if f != nil {
			tx.record(EventTOTPRemoved, refOf(u), map[string]any{"sessions_ended": ended})
		} else {
			tx.recordBy(EventTOTPRemoved, refOf(u), Actor{Kind: ActorSystem}, map[string]any{"sessions_ended": ended, "by_admin": true})
		}
		return nil
	})
}

// RegenerateRecoveryCodes voids the user's recovery codes and returns a
// new set, after checking their password and a current code (spent by this
// call). Every other session of the user but keepSessionID ends.
//
// Errors: ErrInvalidCredentials for a wrong password or code;
// ErrNoSecondFactor.
func (s *Store) RegenerateRecoveryCodes(ctx context.Context, userID int64, password, code string, keepSessionID int64) ([]string, error) {
	step, f, hash, err := s.checkSecondFactor(ctx, "regenerate recovery codes", userID, password, code)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes(s.cfg.Rand)
	if err != nil {
		return nil, wrap("regenerate recovery codes", err)
	}
	p := provenPassword{userID: userID, field: FieldPassword, password: password, hash: hash}
	err = s.whileProven(ctx, "regenerate recovery codes", p, func(hash string) error {
		return s.regenerateRecoveryCodes(ctx, userID, f, step, hashes, keepSessionID, hash)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// regenerateRecoveryCodes is RegenerateRecoveryCodes' transaction: it
// replaces the user's codes with hashes if the factor is still f (spending
// step) and the user's password hash is still proven (errCredentialChanged
// otherwise).
func (s *Store) regenerateRecoveryCodes(ctx context.Context, userID int64, f db.TotpFactor, step uint64, hashes []string, keep int64, proven string) error {
	return s.inTx(ctx, "regenerate recovery codes", func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if err != nil {
			return err
		}
		if err := tx.stillPassword(userID, proven); err != nil {
			return err
		}
		n, err := tx.q.SpendTOTPStep(tx.ctx, db.SpendTOTPStepParams{Step: int64(step), UserID: userID, SecretCt: f.SecretCt})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrInvalidCredentials
		}
		if err := tx.clear(changeBucket(tx.ctx, userID)); err != nil {
			return err
		}
		if err := tx.replaceRecoveryCodes(userID, hashes); err != nil {
			return err
		}
		ended, err := tx.endOtherSessions(userID, keep)
		if err != nil {
			return err
		}
		tx.record(EventRecoveryCodesRegenerated, refOf(u), map[string]any{"sessions_ended": ended})
		return nil
	})
}

// TwoFactorStatus is what a user has of the second factor.
type TwoFactorStatus struct {
	TOTPEnabled       bool `json:"totp_enabled"`
	EnrollmentPending bool `json:"enrollment_pending"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

// twoFactorStatus is the status that the counts of a user's factors,
// pending enrollments and recovery codes make.
func twoFactorStatus(factors, enrollments, recoveryCodes int64) TwoFactorStatus {
	return TwoFactorStatus{TOTPEnabled: factors > 0, EnrollmentPending: enrollments > 0, RecoveryCodesLeft: int(recoveryCodes)}
}

// TwoFactor returns the user's second-factor status. A user without an
// account has none.
func (s *Store) TwoFactor(ctx context.Context, userID int64) (TwoFactorStatus, error) {
	r, err := read(ctx, s.q.GetTwoFactorStatus, db.GetTwoFactorStatusParams{UserID: userID, Now: s.now()})
	if err != nil {
		return TwoFactorStatus{}, wrap("two factor status", err)
	}
	return twoFactorStatus(r.Factors, r.Enrollments, r.RecoveryCodes), nil
}
