package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// The second factor's tests. Each runs once per engine on one database;
// the cases of a test share its store and its clock, which they move on by
// one TOTP step (totpStep) whenever the next case needs a code not yet
// spent.

// totpStep is the TOTP time step: a code is good for one, and spent codes
// are refused by step.
const totpStep = 30 * time.Second

// testKeys is a keyring with a fixed key per id, the first id current. A
// key depends only on its id, so rings sharing an id share its key.
func testKeys(ids ...string) *auth.Keyring {
	k := &auth.Keyring{Current: ids[0], Keys: map[string][]byte{}}
	for _, id := range ids {
		sum := sha256.Sum256([]byte("credstore test key " + id))
		k.Keys[id] = sum[:]
	}
	return k
}

// withKeys sets the store's TOTP keyring.
func withKeys(k *auth.Keyring) func(*auth.Config) {
	return func(c *auth.Config) { c.SecretKeys = k }
}

// code is the code an authenticator app holding secret shows at the time at.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	require.NoError(t, err)
	return c
}

// wrongCode is a well-formed code that none of the steps around at accepts.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	near := map[string]bool{}
	for d := -2; d <= 2; d++ {
		near[code(t, secret, at.Add(time.Duration(d)*totpStep))] = true
	}
	c := code(t, secret, at)
	for near[c] {
		n, err := strconv.Atoi(c)
		require.NoError(t, err)
		c = fmt.Sprintf("%06d", (n+1)%1000000)
	}
	return c
}

// mustEnroll enrolls a TOTP factor for the user and confirms it with the
// code of clk's time (keeping no session), then moves clk on a step so that
// the next code is not the spent one. It returns the secret and the
// recovery codes.
func mustEnroll(t *testing.T, s *auth.Store, clk *testdb.Clock, userID int64) (string, []string) {
	t.Helper()
	ctx := context.Background()
	u, err := s.User(ctx, userID)
	require.NoError(t, err)
	e, err := s.EnrollTOTP(ctx, userID)
	require.NoError(t, err)
	recovery, err := s.ConfirmTOTP(ctx, userID, auth.TOTPConfirmation{Code: code(t, e.Secret, clk.Now()), Password: pw(u.Username)})
	require.NoError(t, err)
	require.Len(t, recovery, auth.RecoveryCodeCount)
	clk.Advance(totpStep)
	return e.Secret, recovery
}

// mustChallenge logs the user reg(name) registered in with the right
// password and returns the login challenge it must answer.
func mustChallenge(t *testing.T, s *auth.Store, name string) string {
	t.Helper()
	return challengeOf(t, s, auth.LoginAttempt{Identifier: name, Password: pw(name)})
}

// challengeOf returns the challenge of a login with the right password.
func challengeOf(t *testing.T, s *auth.Store, a auth.LoginAttempt) string {
	t.Helper()
	res, err := s.LoginWithDevice(context.Background(), a)
	return requireChallenge(t, res, err)
}

// requireChallenge asserts that a login asked for the second factor, and
// started no session, and returns the challenge.
func requireChallenge(t *testing.T, res auth.LoginResult, err error) string {
	t.Helper()
	var sf *auth.SecondFactorRequiredError
	require.ErrorAs(t, err, &sf)
	require.ErrorIs(t, err, auth.ErrSecondFactorRequired)
	require.Zero(t, res, "no session before the second factor")
	require.NotEmpty(t, sf.Challenge)
	return sf.Challenge
}

// alive says whether a session token still names a live session.
func alive(t *testing.T, s *auth.Store, token string) bool {
	t.Helper()
	_, _, err := s.SessionUser(context.Background(), token)
	if errors.Is(err, auth.ErrInvalidSession) {
		return false
	}
	require.NoError(t, err)
	return true
}

// mustSession creates a session for the user, as an application does for a
// user who is logged in already.
func mustSession(t *testing.T, s *auth.Store, userID int64) auth.Session {
	t.Helper()
	sess, err := s.CreateSession(context.Background(), userID)
	require.NoError(t, err)
	return sess
}

// status is the user's TwoFactor status.
func status(t *testing.T, s *auth.Store, userID int64) auth.TwoFactorStatus {
	t.Helper()
	st, err := s.TwoFactor(context.Background(), userID)
	require.NoError(t, err)
	return st
}

// TestTOTPEnrollment: enrolling needs a keyring; an enrollment's secret,
// URI and QR code; a wrong confirming code leaves it pending; confirming
// returns the recovery codes and spends the code; an enrollment expires;
// and a new enrollment leaves the active factor in force until it is
// confirmed.
func TestTOTPEnrollment(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")), func(c *auth.Config) { c.TOTPIssuer = "Example Co" })
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))

		t.Run("without a keyring", func(t *testing.T) {
			plain := newStore(t, dsn, withClock(clk))
			_, err := plain.EnrollTOTP(ctx, alice.ID)
			require.ErrorIs(t, err, auth.ErrNoSecretKey)
			assert.Equal(t, auth.TwoFactorStatus{}, status(t, s, alice.ID), "nothing written")
			_, err = plain.TOTPEnrollmentQR(ctx, alice.ID, 200)
			assert.ErrorIs(t, err, auth.ErrNoEnrollment)
		})

		var e auth.TOTPEnrollment
		t.Run("enroll", func(t *testing.T) {
			var err error
			e, err = s.EnrollTOTP(ctx, alice.ID)
			require.NoError(t, err)
			assert.Regexp(t, `^[A-Z2-7]{32}$`, e.Secret, "160 bits in base32, unpadded")
			raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
			require.NoError(t, err)
			assert.Len(t, raw, 20)
			assert.True(t, e.ExpiresAt.Equal(storeTime(clk).Add(auth.EnrollmentLifetime)), "expires %v", e.ExpiresAt)
			key, err := otp.NewKeyFromURL(e.URI)
			require.NoError(t, err)
			assert.Equal(t, "totp", key.Type())
			assert.Equal(t, "Example Co", key.Issuer())
			assert.Equal(t, "alice@example.com", key.AccountName())
			assert.Equal(t, e.Secret, key.Secret())
			assert.Equal(t, uint64(30), key.Period())
			assert.Equal(t, otp.DigitsSix, key.Digits())
			assert.Equal(t, otp.AlgorithmSHA1, key.Algorithm())
			assert.Equal(t, auth.TwoFactorStatus{EnrollmentPending: true}, status(t, s, alice.ID))

			// Pending is not active: the password alone still logs in.
			_, _, err = s.LoginSession(ctx, "alice", pw("alice"))
			require.NoError(t, err)

			_, err = s.EnrollTOTP(ctx, 999)
			assert.ErrorIs(t, err, auth.ErrNotFound)
		})

		t.Run("QR code", func(t *testing.T) {
			for _, c := range []struct{ size, want int }{{256, 256}, {64, 64}, {10, 64}, {-1, 64}, {1024, 1024}, {5000, 1024}} {
				b, err := s.TOTPEnrollmentQR(ctx, alice.ID, c.size)
				require.NoError(t, err)
				require.True(t, bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), "a PNG")
				img, err := png.Decode(bytes.NewReader(b))
				require.NoError(t, err, "size %d", c.size)
				assert.Equal(t, c.want, img.Bounds().Dx(), "size %d", c.size)
				assert.Equal(t, c.want, img.Bounds().Dy(), "size %d", c.size)
			}
			_, err := s.TOTPEnrollmentQR(ctx, bob.ID, 256)
			assert.ErrorIs(t, err, auth.ErrNoEnrollment, "none pending")
			_, err = s.TOTPEnrollmentQR(ctx, 999, 256)
			assert.ErrorIs(t, err, auth.ErrNotFound)
		})

		t.Run("wrong code", func(t *testing.T) {
			for _, c := range []string{wrongCode(t, e.Secret, clk.Now()), "", "12345", "1234567", "abcdef",
				code(t, e.Secret, clk.Now().Add(2*totpStep)), code(t, e.Secret, clk.Now().Add(-2*totpStep))} {
				_, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: c, Password: pw(alice.Username)})
				require.ErrorIs(t, err, auth.ErrInvalidCode, "code %q", c)
			}
			assert.Equal(t, auth.TwoFactorStatus{EnrollmentPending: true}, status(t, s, alice.ID), "the enrollment stays")
			_, err := s.ConfirmTOTP(ctx, bob.ID, auth.TOTPConfirmation{Code: "123456", Password: pw(bob.Username)})
			assert.ErrorIs(t, err, auth.ErrNoEnrollment)
		})

		var recovery []string
		confirmed := code(t, e.Secret, clk.Now())
		t.Run("confirm", func(t *testing.T) {
			// The first factor takes the password too: a session alone (a
			// stolen one) must not put the thief's device on the account.
			for _, wrong := range []string{"", "wrong password"} {
				_, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: confirmed, Password: wrong})
				require.Equal(t, auth.ErrInvalidCredentials, err, "password %q", wrong)
			}
			assert.Equal(t, auth.TwoFactorStatus{EnrollmentPending: true}, status(t, s, alice.ID), "nothing changed")
			var err error
			recovery, err = s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: " " + confirmed + " ", Password: pw(alice.Username)})
			require.NoError(t, err)
			require.Len(t, recovery, auth.RecoveryCodeCount)
			seen := map[string]bool{}
			for _, c := range recovery {
				assert.Regexp(t, `^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`, c)
				assert.False(t, seen[c], "duplicate %s", c)
				seen[c] = true
			}
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: 10}, status(t, s, alice.ID))
			_, err = s.TOTPEnrollmentQR(ctx, alice.ID, 256)
			assert.ErrorIs(t, err, auth.ErrNoEnrollment, "spent by the confirmation")
			_, err = s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: confirmed, Password: pw(alice.Username)})
			assert.ErrorIs(t, err, auth.ErrNoEnrollment)
		})

		t.Run("the confirming code is spent", func(t *testing.T) {
			ch := mustChallenge(t, s, "alice")
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: confirmed})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the code that confirmed cannot log in")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, e.Secret, clk.Now().Add(-totpStep))})
			require.Equal(t, auth.ErrInvalidCredentials, err, "nor can the step before it")
			clk.Advance(totpStep)
			res, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, e.Secret, clk.Now())})
			require.NoError(t, err, "the next step's code does")
			assert.Equal(t, alice.ID, res.User.ID)
			clk.Advance(totpStep)
		})

		t.Run("expiry", func(t *testing.T) {
			e1, err := s.EnrollTOTP(ctx, bob.ID)
			require.NoError(t, err)
			clk.Advance(auth.EnrollmentLifetime - time.Second)
			_, err = s.TOTPEnrollmentQR(ctx, bob.ID, 64)
			require.NoError(t, err, "a second before it expires")
			assert.True(t, status(t, s, bob.ID).EnrollmentPending)
			clk.Advance(time.Second)
			_, err = s.TOTPEnrollmentQR(ctx, bob.ID, 64)
			assert.ErrorIs(t, err, auth.ErrNoEnrollment, "expired")
			assert.Equal(t, auth.TwoFactorStatus{}, status(t, s, bob.ID))
			_, err = s.ConfirmTOTP(ctx, bob.ID, auth.TOTPConfirmation{Code: code(t, e1.Secret, clk.Now()), Password: pw(bob.Username)})
			assert.ErrorIs(t, err, auth.ErrNoEnrollment, "an expired enrollment cannot be confirmed")
			purged, err := s.PurgeExpired(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), purged.Enrollments, "the expired enrollment is purged")

			// A new enrollment replaces the expired one, and then a
			// pending one: only the last secret confirms.
			e2, err := s.EnrollTOTP(ctx, bob.ID)
			require.NoError(t, err)
			e3, err := s.EnrollTOTP(ctx, bob.ID)
			require.NoError(t, err)
			assert.NotEqual(t, e2.Secret, e3.Secret)
			_, err = s.ConfirmTOTP(ctx, bob.ID, auth.TOTPConfirmation{Code: code(t, e2.Secret, clk.Now()), Password: pw(bob.Username)})
			assert.ErrorIs(t, err, auth.ErrInvalidCode, "the replaced enrollment's secret")
			_, err = s.ConfirmTOTP(ctx, bob.ID, auth.TOTPConfirmation{Code: code(t, e3.Secret, clk.Now()), Password: pw(bob.Username)})
			require.NoError(t, err)
			assert.True(t, status(t, s, bob.ID).TOTPEnabled)
			clk.Advance(totpStep)
		})

		t.Run("re-enrolling", func(t *testing.T) {
			require.Len(t, recovery, auth.RecoveryCodeCount, "confirmed above")
			next, err := s.EnrollTOTP(ctx, alice.ID)
			require.NoError(t, err)
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, EnrollmentPending: true, RecoveryCodesLeft: 10}, status(t, s, alice.ID))

			// Until it is confirmed, the old factor is the one that counts.
			ch := mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, next.Secret, clk.Now())})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the pending secret does not log in")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, e.Secret, clk.Now())})
			require.NoError(t, err, "the active one does")
			clk.Advance(totpStep)

			// Replacing an active factor takes the password too: a session
			// alone (a stolen one) cannot swap the owner's factor.
			_, err = s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: code(t, next.Secret, clk.Now())})
			require.Equal(t, auth.ErrInvalidCredentials, err, "no password")
			_, err = s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: code(t, next.Secret, clk.Now()), Password: "wrong password"})
			require.Equal(t, auth.ErrInvalidCredentials, err, "a wrong password")
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, EnrollmentPending: true, RecoveryCodesLeft: 10}, status(t, s, alice.ID),
				"nothing changed")
			recovery2, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: code(t, next.Secret, clk.Now()), Password: pw("alice")})
			require.NoError(t, err)
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: 10}, status(t, s, alice.ID))
			assert.NotContains(t, recovery2, recovery[0])
			clk.Advance(totpStep)

			// Now the new factor counts, and the old one and its recovery
			// codes are void.
			ch = mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, e.Secret, clk.Now())})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the old factor")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: recovery[0]})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the old recovery codes")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, next.Secret, clk.Now())})
			require.NoError(t, err, "the new factor")
			clk.Advance(totpStep)
		})
	})
}

// TestSecondFactorLogin: the two steps of a login. Without a factor nothing
// changes; with one, the password starts no session but a challenge, which
// a current code completes once, within its lifetime and its failures, and
// only while the password is the one it was issued for.
func TestSecondFactorLogin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		raw := testdb.Raw(t, dsn)
		mustRegister(t, s, reg("nora"))
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		dave := mustRegister(t, s, reg("dave"))

		// Bob has a device token from before he enrolled.
		before, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err)
		require.NotEmpty(t, before.DeviceToken)

		secret, _ := mustEnroll(t, s, clk, alice.ID)
		bobSecret, _ := mustEnroll(t, s, clk, bob.ID)
		daveSecret, _ := mustEnroll(t, s, clk, dave.ID)
		now := func(d time.Duration) string { return code(t, secret, clk.Now().Add(d)) }

		t.Run("without a factor", func(t *testing.T) {
			_, err := s.Login(ctx, "nora", pw("nora"))
			require.NoError(t, err)
			_, sess, err := s.LoginSession(ctx, "nora", pw("nora"))
			require.NoError(t, err)
			assert.True(t, alive(t, s, sess.Token))
			res, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "nora@example.com", Password: pw("nora")})
			require.NoError(t, err)
			assert.NotEmpty(t, res.DeviceToken)
			assert.True(t, alive(t, s, res.Session.Token))
		})

		t.Run("wrong password", func(t *testing.T) {
			challenges := countRows(t, raw, "mfa_challenges")
			_, errNora := s.Login(ctx, "nora", "Wrong-password-1")
			_, errAlice := s.Login(ctx, "alice", "Wrong-password-1")
			require.Equal(t, auth.ErrInvalidCredentials, errNora)
			require.Equal(t, auth.ErrInvalidCredentials, errAlice, "the same error as for a user without a factor")
			_, _, err := s.LoginSession(ctx, "alice", "Wrong-password-1")
			require.Equal(t, auth.ErrInvalidCredentials, err)
			_, err = s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: "Wrong-password-1"})
			require.Equal(t, auth.ErrInvalidCredentials, err)
			assert.Equal(t, challenges, countRows(t, raw, "mfa_challenges"), "no challenge for a wrong password")
		})

		t.Run("password step", func(t *testing.T) {
			sessions := countRows(t, raw, "sessions")
			_, err := s.Login(ctx, "alice", pw("alice"))
			var sf *auth.SecondFactorRequiredError
			require.ErrorAs(t, err, &sf)
			assert.ErrorIs(t, err, auth.ErrSecondFactorRequired)
			assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
			assert.Equal(t, "second factor required", err.Error())
			assert.True(t, sf.ExpiresAt.Equal(storeTime(clk).Add(auth.ChallengeLifetime)), "expires %v", sf.ExpiresAt)
			u, sess, err := s.LoginSession(ctx, "alice@example.com", pw("alice"))
			c2 := requireChallenge(t, auth.LoginResult{User: u, Session: sess}, err)
			c3 := mustChallenge(t, s, "alice")
			assert.Len(t, map[string]bool{sf.Challenge: true, c2: true, c3: true}, 3, "a new challenge each time")
			assert.Equal(t, sessions, countRows(t, raw, "sessions"), "no session from the password alone")

			res, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: c2, Code: now(0)})
			require.NoError(t, err)
			assert.Equal(t, alice.ID, res.User.ID)
			assert.Equal(t, "alice@example.com", res.User.Email)
			assert.NotEmpty(t, res.Session.Token)
			assert.NotEmpty(t, res.DeviceToken)
			assert.True(t, alive(t, s, res.Session.Token))
			assert.Equal(t, sessions+1, countRows(t, raw, "sessions"))

			// A challenge works once.
			clk.Advance(totpStep)
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: c2, Code: now(0)})
			require.Equal(t, auth.ErrInvalidCredentials, err, "a spent challenge")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: c3, Code: now(0)})
			require.NoError(t, err, "another challenge of the same password")
			clk.Advance(totpStep)
		})

		t.Run("device", func(t *testing.T) {
			ch := challengeOf(t, s, auth.LoginAttempt{Identifier: "bob", Password: pw("bob"), DeviceToken: before.DeviceToken})
			res, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, bobSecret, clk.Now()), DeviceToken: before.DeviceToken})
			require.NoError(t, err)
			assert.Equal(t, before.DeviceToken, res.DeviceToken, "the device token presented is renewed")
			assert.True(t, res.DeviceExpiresAt.After(before.DeviceExpiresAt))
		})

		t.Run("skew", func(t *testing.T) {
			clk.Advance(3 * totpStep)
			ch := mustChallenge(t, s, "alice")
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(-totpStep)})
			require.NoError(t, err, "a step behind")
			clk.Advance(2 * totpStep)
			ch = mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(totpStep)})
			require.NoError(t, err, "a step ahead")

			clk.Advance(10 * totpStep)
			ch = mustChallenge(t, s, "alice")
			for _, d := range []time.Duration{-2 * totpStep, 2 * totpStep, -3 * totpStep, 3 * totpStep} {
				c := now(d)
				if c == now(-totpStep) || c == now(0) || c == now(totpStep) {
					continue // the codes of two steps coincide, one time in 330,000
				}
				_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
				require.Equal(t, auth.ErrInvalidCredentials, err, "%v off", d)
			}
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err, "and the current code after four refusals")
			clk.Advance(totpStep)
		})

		t.Run("replay", func(t *testing.T) {
			c := now(0)
			ch := mustChallenge(t, s, "alice")
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
			require.NoError(t, err)
			ch = mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the same code in a new challenge")
			clk.Advance(totpStep)
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the spent code a step later, still within the skew")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err)
			clk.Advance(totpStep)
		})

		t.Run("failures", func(t *testing.T) {
			// Four wrong codes of every kind, and the right one still works.
			ch := mustChallenge(t, s, "alice")
			for _, c := range []string{"", "12345", "abcdef", now(0) + "0"} {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
				require.Equal(t, auth.ErrInvalidCredentials, err, "code %q", c)
			}
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err, "after MaxChallengeFailures-1 wrong codes")
			clk.Advance(totpStep)

			// Five, and it is dead: the right code is refused, though it is
			// not spent, as a new challenge shows.
			require.Equal(t, 5, auth.MaxChallengeFailures)
			ch = mustChallenge(t, s, "alice")
			for range auth.MaxChallengeFailures {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: wrongCode(t, secret, clk.Now())})
				require.Equal(t, auth.ErrInvalidCredentials, err)
			}
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.Equal(t, auth.ErrInvalidCredentials, err, "the sixth attempt, with the right code")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: "0000-0000-0000-0000"})
			require.Equal(t, auth.ErrInvalidCredentials, err)
			ch = mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err, "the code was never spent")
			clk.Advance(totpStep)
		})

		t.Run("lifetime", func(t *testing.T) {
			ch := mustChallenge(t, s, "alice")
			clk.Advance(auth.ChallengeLifetime - time.Second)
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err, "a second before it expires")
			clk.Advance(totpStep)
			ch = mustChallenge(t, s, "alice")
			clk.Advance(auth.ChallengeLifetime)
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.Equal(t, auth.ErrInvalidCredentials, err, "expired")
			purged, err := s.PurgeExpired(ctx)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, purged.Challenges, int64(1), "the expired challenge is purged")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.Equal(t, auth.ErrInvalidCredentials, err, "purged")
			ch = mustChallenge(t, s, "alice")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err)
			clk.Advance(totpStep)
		})

		t.Run("malformed or unknown challenge", func(t *testing.T) {
			ch := mustChallenge(t, s, "alice")
			var random [32]byte
			_, err := rand.Read(random[:])
			require.NoError(t, err)
			session := mustSession(t, s, alice.ID)
			for _, bad := range []string{
				"", "x", strings.Repeat("!", 43), ch[:42], ch + "A", " " + ch, strings.ToUpper(ch),
				base64.RawURLEncoding.EncodeToString(random[:]), session.Token, before.DeviceToken,
			} {
				if bad == ch {
					continue
				}
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: bad, Code: now(0)})
				require.Equal(t, auth.ErrInvalidCredentials, err, "challenge %q", bad)
			}
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
			require.NoError(t, err, "the code was not spent by those")
			clk.Advance(totpStep)
		})

		t.Run("password written between the steps", func(t *testing.T) {
			password := pw("alice")
			for i, write := range []func(next string){
				func(next string) { require.NoError(t, s.ChangePassword(ctx, alice.ID, password, next)) },
				func(next string) {
					r, err := s.RequestPasswordReset(ctx, alice.Email)
					require.NoError(t, err)
					require.NoError(t, s.ResetPassword(ctx, alice.Email, r.Token, next))
				},
				func(next string) { require.NoError(t, s.SetPassword(ctx, alice.ID, next)) },
			} {
				next := fmt.Sprintf("Next-password-%d", i)
				ch := challengeOf(t, s, auth.LoginAttempt{Identifier: "alice", Password: password})
				write(next)
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
				require.Equal(t, auth.ErrInvalidCredentials, err, "write %d kills the challenge", i)
				password = next
				ch = challengeOf(t, s, auth.LoginAttempt{Identifier: "alice", Password: password})
				_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: now(0)})
				require.NoError(t, err, "write %d: the new password's challenge, the same code", i)
				clk.Advance(totpStep)
			}
		})

		t.Run("codes count in the throttle", func(t *testing.T) {
			// A second store on the database, with the default throttle:
			// the password step and four wrong codes are five failures, and
			// the sixth attempt waits.
			strict := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")), withDefaultThrottles)
			ch := mustChallenge(t, strict, "dave")
			for range 4 {
				_, err := strict.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: wrongCode(t, daveSecret, clk.Now())})
				require.Equal(t, auth.ErrInvalidCredentials, err)
			}
			_, err := strict.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, daveSecret, clk.Now())})
			var te *auth.ThrottledError
			require.ErrorAs(t, err, &te, "the right code waits its turn")
			clk.Set(te.RetryAt)
			res, err := strict.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, daveSecret, clk.Now())})
			require.NoError(t, err, "and is taken after the wait")
			assert.Equal(t, dave.ID, res.User.ID)
			// The success cleared the bucket: five free failures again.
			ch = mustChallenge(t, strict, "dave")
			for range 4 {
				_, err := strict.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: wrongCode(t, daveSecret, clk.Now())})
				require.Equal(t, auth.ErrInvalidCredentials, err)
			}
			clk.Advance(totpStep)
		})
	})
}

// TestSecondFactorConcurrentCodes: single use under concurrency. One TOTP
// code on twenty challenges, one recovery code on twenty challenges, and
// the right code twenty times on one challenge: each logs in exactly once.
func TestSecondFactorConcurrentCodes(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		const n = 20

		// race runs try n times at once and returns how many succeeded;
		// every failure must be ErrInvalidCredentials.
		race := func(t *testing.T, try func(i int) error) int {
			t.Helper()
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = try(i)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				if err == nil {
					wins++
				} else {
					assert.Equal(t, auth.ErrInvalidCredentials, err, "attempt %d", i)
				}
			}
			return wins
		}
		challenges := func(t *testing.T, name string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = mustChallenge(t, s, name)
			}
			return out
		}
		sessionsOf := func(t *testing.T, userID int64) int {
			l, err := s.ListSessions(ctx, userID)
			require.NoError(t, err)
			return len(l)
		}

		t.Run("one code, many challenges", func(t *testing.T) {
			u := mustRegister(t, s, reg("alice"))
			secret, _ := mustEnroll(t, s, clk, u.ID)
			chs := challenges(t, "alice")
			c := code(t, secret, clk.Now())
			wins := race(t, func(i int) error {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: chs[i], Code: c})
				return err
			})
			assert.Equal(t, 1, wins)
			assert.Equal(t, 1, sessionsOf(t, u.ID))
		})

		t.Run("one recovery code, many challenges", func(t *testing.T) {
			u := mustRegister(t, s, reg("bob"))
			_, recovery := mustEnroll(t, s, clk, u.ID)
			chs := challenges(t, "bob")
			wins := race(t, func(i int) error {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: chs[i], RecoveryCode: recovery[0]})
				return err
			})
			assert.Equal(t, 1, wins)
			assert.Equal(t, 1, sessionsOf(t, u.ID))
			assert.Equal(t, auth.RecoveryCodeCount-1, status(t, s, u.ID).RecoveryCodesLeft)
		})

		t.Run("one challenge, many submissions", func(t *testing.T) {
			u := mustRegister(t, s, reg("carol"))
			secret, _ := mustEnroll(t, s, clk, u.ID)
			ch := mustChallenge(t, s, "carol")
			c := code(t, secret, clk.Now())
			wins := race(t, func(int) error {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
				return err
			})
			assert.Equal(t, 1, wins)
			assert.Equal(t, 1, sessionsOf(t, u.ID))
		})

		t.Run("one challenge, many recovery codes", func(t *testing.T) {
			u := mustRegister(t, s, reg("dave"))
			_, recovery := mustEnroll(t, s, clk, u.ID)
			ch := mustChallenge(t, s, "dave")
			wins := race(t, func(i int) error {
				_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: recovery[i%len(recovery)]})
				return err
			})
			assert.Equal(t, 1, wins)
			assert.Equal(t, 1, sessionsOf(t, u.ID))
			assert.Equal(t, auth.RecoveryCodeCount-1, status(t, s, u.ID).RecoveryCodesLeft, "one code spent, by the one login")
		})

		t.Run("one code, many regenerations", func(t *testing.T) {
			u := mustRegister(t, s, reg("eve"))
			secret, old := mustEnroll(t, s, clk, u.ID)
			c := code(t, secret, clk.Now())
			sets := make([][]string, n)
			wins := race(t, func(i int) error {
				var err error
				sets[i], err = s.RegenerateRecoveryCodes(ctx, u.ID, pw("eve"), c, 0)
				if errors.Is(err, auth.ErrInvalidCredentials) {
					// A loser that checked the code before the winner spent
					// it fails in the transaction, with the error wrapped.
					return auth.ErrInvalidCredentials
				}
				return err
			})
			require.Equal(t, 1, wins)
			var won []string
			for _, set := range sets {
				if set != nil {
					won = set
				}
			}
			require.Len(t, won, auth.RecoveryCodeCount)
			assert.Equal(t, auth.RecoveryCodeCount, status(t, s, u.ID).RecoveryCodesLeft, "one set, not several")
			ch := mustChallenge(t, s, "eve")
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: old[0]})
			assert.Equal(t, auth.ErrInvalidCredentials, err, "the old set is void")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: won[0]})
			assert.NoError(t, err, "the winner's set is the one stored")
		})

		t.Run("one enrollment, many confirmations", func(t *testing.T) {
			u := mustRegister(t, s, reg("frank"))
			e, err := s.EnrollTOTP(ctx, u.ID)
			require.NoError(t, err)
			c := code(t, e.Secret, clk.Now())
			sets := make([][]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					sets[i], errs[i] = s.ConfirmTOTP(ctx, u.ID, auth.TOTPConfirmation{Code: c, Password: pw(u.Username)})
				})
			}
			close(start)
			wg.Wait()
			var won []string
			for i, err := range errs {
				if err == nil {
					require.Nil(t, won, "a second confirmation succeeded")
					won = sets[i]
				} else {
					assert.ErrorIs(t, err, auth.ErrNoEnrollment, "confirmation %d", i)
				}
			}
			require.Len(t, won, auth.RecoveryCodeCount)
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: auth.RecoveryCodeCount}, status(t, s, u.ID))
			clk.Advance(totpStep)
			ch := mustChallenge(t, s, "frank")
			_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: won[0]})
			assert.NoError(t, err, "the winner's set is the one stored")
		})
	})
}

// TestSecondFactorAfterPasswordReset: resetting (or an administrator
// setting) the password does not get around the second factor.
func TestSecondFactorAfterPasswordReset(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)

		r, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
		require.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, "Reset-password-1"))
		sessions := countRows(t, raw, "sessions")
		_, err = s.Login(ctx, "alice", "Reset-password-1")
		require.ErrorIs(t, err, auth.ErrSecondFactorRequired)
		u, sess, err := s.LoginSession(ctx, "alice", "Reset-password-1")
		requireChallenge(t, auth.LoginResult{User: u, Session: sess}, err)
		ch := challengeOf(t, s, auth.LoginAttempt{Identifier: "alice", Password: "Reset-password-1"})
		assert.Equal(t, sessions, countRows(t, raw, "sessions"))
		assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: 10}, status(t, s, alice.ID), "the reset kept the factor")
		_, err = s.Login(ctx, "alice", pw("alice"))
		require.Equal(t, auth.ErrInvalidCredentials, err, "the old password")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
		require.NoError(t, err)
		// The reset's event flags a factor confirmed within a day, for the
		// operator; a day later it says only that there is one.
		resets := func() []auth.AuditEvent {
			return walk(t, s, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventPasswordReset}})
		}
		require.Len(t, resets(), 1)
		assert.JSONEq(t, `{"sessions_ended": 0, "second_factor": true, "recent_factor": true}`, string(resets()[0].Detail))
		clk.Advance(auth.RecentFactorWindow)
		r, err = s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
		require.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, "Reset-password-1"))
		require.Len(t, resets(), 2)
		assert.JSONEq(t, `{"sessions_ended": 1, "second_factor": true}`, string(resets()[1].Detail))

		require.NoError(t, s.SetPassword(ctx, alice.ID, "Set-password-1"))
		_, err = s.Login(ctx, "alice", "Set-password-1")
		require.ErrorIs(t, err, auth.ErrSecondFactorRequired, "nor an administrator's new password")
	})
}

// secretsIn collects the secrets that must appear nowhere in the database,
// in every form they might be written in.
type secretsIn struct {
	names  []string
	values [][]byte
}

func (c *secretsIn) add(name string, forms ...[]byte) {
	for _, f := range forms {
		c.names = append(c.names, name)
		c.values = append(c.values, f)
	}
}

// totpSecret adds a base32 TOTP secret: as text, upper and lower case, and
// its raw bytes in binary, hex and base64.
func (c *secretsIn) totpSecret(t *testing.T, secret string) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	require.NoError(t, err)
	c.add("TOTP secret", []byte(secret), []byte(strings.ToLower(secret)), raw, []byte(hex.EncodeToString(raw)),
		[]byte(base64.StdEncoding.EncodeToString(raw)), []byte(base64.RawURLEncoding.EncodeToString(raw)))
}

// token adds a challenge token and its bytes.
func (c *secretsIn) token(t *testing.T, token string) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	c.add("challenge token", []byte(token), raw, []byte(hex.EncodeToString(raw)))
}

// recovery adds recovery codes, with and without their dashes, in either
// case.
func (c *secretsIn) recovery(codes []string) {
	for _, code := range codes {
		bare := strings.ReplaceAll(code, "-", "")
		c.add("recovery code", []byte(code), []byte(bare), []byte(strings.ToLower(code)), []byte(strings.ToLower(bare)))
	}
}

// check fails for every secret found in b.
func (c *secretsIn) check(t *testing.T, where string, b []byte) {
	t.Helper()
	for i, v := range c.values {
		assert.False(t, bytes.Contains(b, v), "%s: a %s (%q)", where, c.names[i], v)
	}
}

// dumpRows returns every value of every column of every table of the
// database, as text.
func dumpRows(t *testing.T, raw *sql.DB, dsn string) []byte {
	t.Helper()
	ctx := context.Background()
	listQuery := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if database.IsPostgres(dsn) {
		listQuery = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
	}
	var tables []string
	rows, err := raw.QueryContext(ctx, listQuery)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.Contains(t, tables, "totp_factors")

	var out bytes.Buffer
	for _, table := range tables {
		var cols []string
		if database.IsPostgres(dsn) {
			// Every column of information_schema, cast to text.
			rows, err := raw.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?1", table)
			require.NoError(t, err)
			for rows.Next() {
				var c string
				require.NoError(t, rows.Scan(&c))
				cols = append(cols, fmt.Sprintf(`CAST(%q AS TEXT)`, c))
			}
			require.NoError(t, rows.Err())
			rows.Close()
		} else {
			cols = []string{"*"}
		}
		rows, err := raw.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %q`, strings.Join(cols, ", "), table))
		require.NoError(t, err, table)
		names, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					out.Write(b)
				} else {
					fmt.Fprintf(&out, "%v", v)
				}
				out.WriteByte('\n')
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return out.Bytes()
}

// TestTOTPNothingSecretStored: after enrollments, a confirmation, logins
// with a code and with a recovery code, and a challenge left pending, no
// TOTP secret, recovery code or challenge token is in any row of any table
// nor, on SQLite, in any byte of the database's files.
func TestTOTPNothingSecretStored(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		var secrets secretsIn

		e, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		secrets.totpSecret(t, e.Secret)
		secrets.add("otpauth URI", []byte(e.URI))
		secrets.check(t, "rows, pending enrollment", dumpRows(t, raw, dsn))

		recovery, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: code(t, e.Secret, clk.Now()), Password: pw(alice.Username)})
		require.NoError(t, err)
		secrets.recovery(recovery)
		clk.Advance(totpStep)

		ch := mustChallenge(t, s, "alice")
		secrets.token(t, ch)
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, e.Secret, clk.Now())})
		require.NoError(t, err)
		ch = mustChallenge(t, s, "alice")
		secrets.token(t, ch)
		nearMiss := recovery[0][:18] + "0"
		if nearMiss == recovery[0] {
			nearMiss = recovery[0][:18] + "1"
		}
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: nearMiss})
		require.Equal(t, auth.ErrInvalidCredentials, err, "a near miss of a recovery code")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: strings.ToLower(recovery[0])})
		require.NoError(t, err)
		ch = mustChallenge(t, s, "alice") // left pending
		secrets.token(t, ch)
		next, err := s.EnrollTOTP(ctx, alice.ID) // a second secret, pending
		require.NoError(t, err)
		secrets.totpSecret(t, next.Secret)

		var ct, codeHash string
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT secret_ct FROM totp_factors").Scan(&ct))
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT code_hash FROM recovery_codes ORDER BY id LIMIT 1").Scan(&codeHash))
		rows := dumpRows(t, raw, dsn)
		secrets.check(t, "rows", rows)
		// The dump sees what is stored.
		for _, v := range []string{"alice@example.com", ct, codeHash} {
			assert.True(t, bytes.Contains(rows, []byte(v)), "the dump holds %q", v)
		}

		if database.IsPostgres(dsn) {
			return
		}
		scan := func(when string) {
			var all []byte
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				b, err := os.ReadFile(dsn + suffix)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				require.NoError(t, err)
				secrets.check(t, when+": "+filepath.Base(dsn+suffix), b)
				all = append(all, b...)
			}
			for _, v := range []string{"alice@example.com", ct, codeHash} {
				assert.True(t, bytes.Contains(all, []byte(v)), "%s: the files hold %q", when, v)
			}
		}
		scan("before checkpoint")
		_, err = raw.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		require.NoError(t, err)
		scan("after checkpoint")
	})
}

// TestTOTPSecretBoundToUser: a ciphertext copied into another user's row
// does not decrypt there (the user id is the additional data), so that
// user's login never accepts the other's codes.
func TestTOTPSecretBoundToUser(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		aliceSecret, _ := mustEnroll(t, s, clk, alice.ID)
		bobSecret, bobRecovery := mustEnroll(t, s, clk, bob.ID)

		var aliceCT, aliceKey, bobCT, bobKey string
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT secret_ct, key_id FROM totp_factors WHERE user_id = ?1", alice.ID).Scan(&aliceCT, &aliceKey))
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT secret_ct, key_id FROM totp_factors WHERE user_id = ?1", bob.ID).Scan(&bobCT, &bobKey))
		move := func(ct, key string) {
			_, err := raw.ExecContext(ctx, "UPDATE totp_factors SET secret_ct = ?1, key_id = ?2 WHERE user_id = ?3", ct, key, bob.ID)
			require.NoError(t, err)
		}
		move(aliceCT, aliceKey)
		bobSessions := func() int {
			l, err := s.ListSessions(ctx, bob.ID)
			require.NoError(t, err)
			return len(l)
		}
		before := bobSessions()

		ch := mustChallenge(t, s, "bob")
		for i := range auth.MaxChallengeFailures + 2 {
			for _, c := range []string{code(t, aliceSecret, clk.Now()), code(t, bobSecret, clk.Now())} {
				res, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: c})
				require.Error(t, err, "attempt %d", i)
				assert.Zero(t, res)
				// A secret that does not decrypt verifies no code: the
				// attempt fails like a wrong code (and is recorded with
				// its reason, below).
				assert.Equal(t, auth.ErrInvalidCredentials, err)
			}
			clk.Advance(totpStep)
		}
		var failures int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT failures FROM mfa_challenges WHERE user_id = ?1", bob.ID).Scan(&failures))
		assert.Equal(t, auth.MaxChallengeFailures, failures, "every undecryptable attempt counts against the challenge")
		reasons, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: bob.ID, Types: []auth.EventType{auth.EventLoginFailed}, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		require.NotEmpty(t, reasons)
		assert.JSONEq(t, `{"reason": "secret_unreadable", "device": false}`, string(reasons[0].Detail))
		assert.Equal(t, before, bobSessions(), "no session for bob")

		// Removing the factor or regenerating codes with alice's code: a
		// wrong code.
		err = s.RemoveTOTP(ctx, bob.ID, pw("bob"), code(t, aliceSecret, clk.Now()), 0)
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		_, err = s.RegenerateRecoveryCodes(ctx, bob.ID, pw("bob"), code(t, aliceSecret, clk.Now()), 0)
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		assert.True(t, status(t, s, bob.ID).TOTPEnabled)

		// Alice's own row is untouched and works.
		ach := mustChallenge(t, s, "alice")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ach, Code: code(t, aliceSecret, clk.Now())})
		require.NoError(t, err)

		// A recovery code does not need the secret: bob can still log in.
		ch = mustChallenge(t, s, "bob")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: bobRecovery[0]})
		require.NoError(t, err)

		// An enrollment moved likewise cannot be confirmed with its owner's
		// codes either.
		aliceNext, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		_, err = s.EnrollTOTP(ctx, bob.ID)
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, "UPDATE totp_enrollments SET secret_ct = (SELECT secret_ct FROM totp_enrollments WHERE user_id = ?1) WHERE user_id = ?2", alice.ID, bob.ID)
		require.NoError(t, err)
		_, err = s.ConfirmTOTP(ctx, bob.ID, auth.TOTPConfirmation{Code: code(t, aliceNext.Secret, clk.Now()), Password: pw(bob.Username)})
		require.Error(t, err)
		t.Logf("confirming a moved enrollment: %v", err)
		_, err = s.TOTPEnrollmentQR(ctx, bob.ID, 64)
		require.Error(t, err, "nor shown as a QR code")

		// Back in its own row, bob's ciphertext works again.
		move(bobCT, bobKey)
		clk.Advance(totpStep)
		ch = mustChallenge(t, s, "bob")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, bobSecret, clk.Now())})
		require.NoError(t, err)
	})
}

// keyIDs lists the key ids of the stored secrets, factors and enrollments.
func keyIDs(t *testing.T, raw *sql.DB) []string {
	t.Helper()
	rows, err := raw.Query("SELECT key_id FROM totp_factors UNION ALL SELECT key_id FROM totp_enrollments")
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// TestReencryptSecrets: a key rotation. Secrets under the old key keep
// working while both keys are in the ring; ReencryptSecrets moves every one
// to the new key, after which the ring needs only the new key, and the old
// key alone reads nothing.
func TestReencryptSecrets(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		raw := testdb.Raw(t, dsn)
		a := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		alice := mustRegister(t, a, reg("alice"))
		bob := mustRegister(t, a, reg("bob"))
		carol := mustRegister(t, a, reg("carol"))
		dave := mustRegister(t, a, reg("dave"))
		aliceSecret, _ := mustEnroll(t, a, clk, alice.ID)
		bobSecret, _ := mustEnroll(t, a, clk, bob.ID)
		pending, err := a.EnrollTOTP(ctx, carol.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"k1", "k1", "k1"}, keyIDs(t, raw))

		complete := func(t *testing.T, s *auth.Store, name, secret string) error {
			t.Helper()
			ch := mustChallenge(t, s, name)
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
			return err
		}

		// Both keys, k2 current: the old rows still verify, new ones are
		// written under k2.
		b := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2", "k1")))
		require.NoError(t, complete(t, b, "alice", aliceSecret), "a k1 secret, through the two-key ring")
		daveSecret, _ := mustEnroll(t, b, clk, dave.ID)
		assert.ElementsMatch(t, []string{"k1", "k1", "k1", "k2"}, keyIDs(t, raw))

		n, err := b.ReencryptSecrets(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), n, "alice's and bob's factors and carol's enrollment")
		assert.Equal(t, []string{"k2", "k2", "k2", "k2"}, keyIDs(t, raw))
		n, err = b.ReencryptSecrets(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to move")
		events, err := b.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventSecretsReencrypted}})
		require.NoError(t, err)
		require.Len(t, events, 1, "one event, for the run that moved something")
		assert.Equal(t, system, events[0].Actor)
		assert.JSONEq(t, `{"factors": 2, "enrollments": 1, "signing_keys": 0, "key_id": "k2"}`, string(events[0].Detail))

		// The new key alone reads everything.
		c := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2")))
		clk.Advance(totpStep)
		require.NoError(t, complete(t, c, "alice", aliceSecret))
		require.NoError(t, complete(t, c, "bob", bobSecret))
		require.NoError(t, complete(t, c, "dave", daveSecret))
		_, err = c.TOTPEnrollmentQR(ctx, carol.ID, 64)
		require.NoError(t, err, "the pending enrollment moved too")
		_, err = c.ConfirmTOTP(ctx, carol.ID, auth.TOTPConfirmation{Code: code(t, pending.Secret, clk.Now()), Password: pw(carol.Username)})
		require.NoError(t, err)
		clk.Advance(totpStep)

		// The old key alone reads nothing.
		old := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		ch := mustChallenge(t, old, "alice")
		_, err = old.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, aliceSecret, clk.Now())})
		assert.ErrorIs(t, err, auth.ErrNoSecretKey)
		assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
		n, err = old.ReencryptSecrets(ctx)
		assert.ErrorIs(t, err, auth.ErrNoSecretKey, "k1 cannot read the k2 rows to move them back")
		assert.Zero(t, n)
		assert.Equal(t, []string{"k2", "k2", "k2", "k2"}, keyIDs(t, raw), "and left them as they were")
		_, err = old.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err, "it can still write under its own key")
		_, err = c.TOTPEnrollmentQR(ctx, alice.ID, 64)
		assert.ErrorIs(t, err, auth.ErrNoSecretKey, "which the k2 ring cannot read")
	})
}

// TestSecondFactorSessionsAndAudit: every change of the second factor ends
// the user's other sessions (an administrator's, all of them); a wrong
// password or code changes nothing; TwoFactor counts what is left; and the
// audit trail records each step without a code or secret in it.
func TestSecondFactorSessionsAndAudit(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		bobSess := mustSession(t, s, bob.ID)

		var (
			secrets []string
			want    []wantEvent
		)
		keep := func(values ...string) { secrets = append(secrets, values...) }
		expect := func(typ auth.EventType, actor auth.Actor, detail string) {
			want = append(want, wantEvent{typ: typ, subject: &alice, actor: actor, detail: detail})
		}
		sessions := func(live ...auth.Session) {
			t.Helper()
			l, err := s.ListSessions(ctx, alice.ID)
			require.NoError(t, err)
			var got, wantIDs []int64
			for _, x := range l {
				got = append(got, x.ID)
			}
			for _, x := range live {
				wantIDs = append(wantIDs, x.ID)
				assert.True(t, alive(t, s, x.Token))
			}
			assert.ElementsMatch(t, wantIDs, got, "alice's live sessions")
			assert.True(t, alive(t, s, bobSess.Token), "bob's session is never touched")
		}
		twoFactor := func(enabled bool, left int) {
			t.Helper()
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: enabled, RecoveryCodesLeft: left}, status(t, s, alice.ID))
		}
		cur := func(secret string) string {
			c := code(t, secret, clk.Now())
			keep(c)
			return c
		}
		wrongPassword := `{"reason": "wrong_password_or_code"}`

		twoFactor(false, 0)
		a1, a2, a3 := mustSession(t, s, alice.ID), mustSession(t, s, alice.ID), mustSession(t, s, alice.ID)

		// Enrollment ends every other session.
		e, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		keep(e.Secret, e.URI)
		expect(auth.EventTOTPEnrollmentStarted, self(alice), `{}`)
		sessions(a1, a2, a3)
		codes, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: cur(e.Secret), Password: pw(alice.Username), KeepSessionID: a1.ID})
		require.NoError(t, err)
		keep(codes...)
		expect(auth.EventTOTPEnrolled, self(alice), `{"sessions_ended": 2, "replaced": false}`)
		sessions(a1)
		twoFactor(true, 10)
		clk.Advance(totpStep)

		// Wrong passwords and codes change nothing.
		c := cur(e.Secret)
		for _, tc := range []struct{ name, password, code string }{
			{"wrong password", "Wrong-password-1", c},
			{"wrong code", pw("alice"), wrongCode(t, e.Secret, clk.Now())},
			{"the spent confirming code", pw("alice"), code(t, e.Secret, clk.Now().Add(-totpStep))},
			{"no code", pw("alice"), ""},
		} {
			err := s.RemoveTOTP(ctx, alice.ID, tc.password, tc.code, 0)
			assert.Equal(t, auth.ErrInvalidCredentials, err, "remove: %s", tc.name)
			expect(auth.EventPasswordChangeFailed, self(alice), wrongPassword)
			got, err := s.RegenerateRecoveryCodes(ctx, alice.ID, tc.password, tc.code, 0)
			assert.Equal(t, auth.ErrInvalidCredentials, err, "regenerate: %s", tc.name)
			assert.Empty(t, got)
			expect(auth.EventPasswordChangeFailed, self(alice), wrongPassword)
		}
		sessions(a1)
		twoFactor(true, 10)

		// Regenerating voids the old set and ends the other sessions.
		a4 := mustSession(t, s, alice.ID)
		codes2, err := s.RegenerateRecoveryCodes(ctx, alice.ID, pw("alice"), c, a1.ID)
		require.NoError(t, err)
		keep(codes2...)
		expect(auth.EventRecoveryCodesRegenerated, self(alice), `{"sessions_ended": 1}`)
		require.Len(t, codes2, 10)
		for _, old := range codes {
			assert.NotContains(t, codes2, old)
		}
		sessions(a1)
		assert.False(t, alive(t, s, a4.Token))
		twoFactor(true, 10)
		_, err = s.RegenerateRecoveryCodes(ctx, alice.ID, pw("alice"), c, a1.ID)
		assert.Equal(t, auth.ErrInvalidCredentials, err, "its code is spent")
		expect(auth.EventPasswordChangeFailed, self(alice), wrongPassword)
		clk.Advance(totpStep)

		// A recovery code logs in, is spent, and ends every other session.
		ch := mustChallenge(t, s, "alice")
		keep(ch)
		expect(auth.EventSecondFactorRequired, anonymous, `{"challenge_id": "id"}`)
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: codes[0]})
		assert.Equal(t, auth.ErrInvalidCredentials, err, "a voided recovery code")
		expect(auth.EventLoginFailed, anonymous, `{"reason": "wrong_recovery_code", "device": false}`)
		a5 := mustSession(t, s, alice.ID)
		r1, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: codes2[0]})
		require.NoError(t, err)
		keep(r1.Session.Token, r1.DeviceToken)
		expect(auth.EventRecoveryCodeUsed, self(alice), `{"sessions_ended": 2, "left": 9}`)
		expect(auth.EventLoginSucceeded, self(alice), `{"session_id": "id", "device": "new", "second_factor": "recovery_code"}`)
		sessions(r1.Session)
		assert.False(t, alive(t, s, a5.Token))
		twoFactor(true, 9)

		// Typed loosely, in a login from the device the last one issued.
		ch = challengeOf(t, s, auth.LoginAttempt{Identifier: "alice", Password: pw("alice"), DeviceToken: r1.DeviceToken})
		keep(ch)
		expect(auth.EventSecondFactorRequired, anonymous, `{"challenge_id": "id"}`)
		loose := strings.ToLower(strings.ReplaceAll(codes2[1], "-", " "))
		r2, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: loose, DeviceToken: r1.DeviceToken})
		require.NoError(t, err)
		keep(r2.Session.Token)
		expect(auth.EventRecoveryCodeUsed, self(alice), `{"sessions_ended": 1, "left": 8}`)
		expect(auth.EventLoginSucceeded, self(alice), `{"session_id": "id", "device": "known", "second_factor": "recovery_code"}`)
		sessions(r2.Session)
		twoFactor(true, 8)

		// A spent recovery code and a wrong TOTP code fail; a current code
		// logs in, and ends nothing.
		ch = mustChallenge(t, s, "alice")
		keep(ch)
		expect(auth.EventSecondFactorRequired, anonymous, `{"challenge_id": "id"}`)
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, RecoveryCode: codes2[0]})
		assert.Equal(t, auth.ErrInvalidCredentials, err, "a spent recovery code")
		expect(auth.EventLoginFailed, anonymous, `{"reason": "wrong_recovery_code", "device": false}`)
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: wrongCode(t, e.Secret, clk.Now())})
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		expect(auth.EventLoginFailed, anonymous, `{"reason": "wrong_totp", "device": false}`)
		r3, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: cur(e.Secret)})
		require.NoError(t, err)
		keep(r3.Session.Token)
		expect(auth.EventLoginSucceeded, self(alice), `{"session_id": "id", "device": "new", "second_factor": "totp"}`)
		sessions(r2.Session, r3.Session)
		twoFactor(true, 8)
		clk.Advance(totpStep)

		// Removing the factor ends the other sessions, and the password
		// alone logs in again.
		a6 := mustSession(t, s, alice.ID)
		require.NoError(t, s.RemoveTOTP(ctx, alice.ID, pw("alice"), cur(e.Secret), a6.ID))
		expect(auth.EventTOTPRemoved, self(alice), `{"sessions_ended": 2}`)
		sessions(a6)
		twoFactor(false, 0)
		assert.ErrorIs(t, s.RemoveTOTP(ctx, alice.ID, pw("alice"), cur(e.Secret), 0), auth.ErrNoSecondFactor)
		_, err = s.RegenerateRecoveryCodes(ctx, alice.ID, pw("alice"), cur(e.Secret), 0)
		assert.ErrorIs(t, err, auth.ErrNoSecondFactor)
		_, a7, err := s.LoginSession(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		expect(auth.EventLoginSucceeded, self(alice), `{"session_id": "id", "device": "none"}`)
		sessions(a6, a7)

		// An administrator's removal ends every session, and drops a
		// pending enrollment too.
		e2, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		keep(e2.Secret, e2.URI)
		expect(auth.EventTOTPEnrollmentStarted, self(alice), `{}`)
		codes3, err := s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: cur(e2.Secret), Password: pw(alice.Username), KeepSessionID: a6.ID})
		require.NoError(t, err)
		keep(codes3...)
		expect(auth.EventTOTPEnrolled, self(alice), `{"sessions_ended": 1, "replaced": false}`)
		e3, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		keep(e3.Secret, e3.URI)
		expect(auth.EventTOTPEnrollmentStarted, self(alice), `{}`)
		mustSession(t, s, alice.ID)
		require.NoError(t, s.AdminRemoveTOTP(ctx, alice.ID))
		expect(auth.EventTOTPRemoved, system, `{"sessions_ended": 2, "by_admin": true}`)
		sessions()
		assert.Equal(t, auth.TwoFactorStatus{}, status(t, s, alice.ID), "no factor, no codes, no enrollment")
		assert.ErrorIs(t, s.AdminRemoveTOTP(ctx, alice.ID), auth.ErrNoSecondFactor)
		assert.ErrorIs(t, s.AdminRemoveTOTP(ctx, 999), auth.ErrNotFound)
		st, err := s.TwoFactor(ctx, 999)
		require.NoError(t, err)
		assert.Equal(t, auth.TwoFactorStatus{}, st, "a user without an account has none")

		// The trail: alice's second-factor events, in order.
		types := []auth.EventType{
			auth.EventTOTPEnrollmentStarted, auth.EventTOTPEnrolled, auth.EventTOTPRemoved,
			auth.EventRecoveryCodesRegenerated, auth.EventRecoveryCodeUsed, auth.EventSecondFactorRequired,
			auth.EventLoginSucceeded, auth.EventLoginFailed, auth.EventPasswordChangeFailed,
		}
		got := walk(t, s, auth.AuditFilter{UserID: alice.ID, Types: types, Limit: auth.MaxPageSize})
		assertEvents(t, want, withIDs(t, got))

		// And nothing secret anywhere in it.
		keep(pw("alice"))
		for _, ev := range allEvents(t, s) {
			text := eventText(ev)
			for _, v := range secrets {
				require.NotEmpty(t, v)
				assert.NotContains(t, text, v, "event %d (%s)", ev.ID, ev.Type)
				if len(v) == 19 { // a recovery code, without its dashes too
					assert.NotContains(t, text, strings.ReplaceAll(v, "-", ""), "event %d (%s)", ev.ID, ev.Type)
				}
			}
		}
	})
}

// withIDs replaces the positive ids in the events' details ("session_id",
// "challenge_id") by "id", so that expectations need not know them.
func withIDs(t *testing.T, events []auth.AuditEvent) []auth.AuditEvent {
	t.Helper()
	out := make([]auth.AuditEvent, len(events))
	for i, e := range events {
		var d map[string]any
		require.NoError(t, json.Unmarshal(e.Detail, &d))
		for k, v := range d {
			if n, ok := v.(float64); ok && strings.HasSuffix(k, "_id") {
				assert.Positive(t, n, "event %d: %s", e.ID, k)
				d[k] = "id"
			}
		}
		b, err := json.Marshal(d)
		require.NoError(t, err)
		e.Detail = b
		out[i] = e
	}
	return out
}

// TestKeyFile: CreateKeyFile writes a key file only its owner can read and
// never overwrites one; ReadKeyFile reads it back, takes the first key as
// current, skips comments and blank lines, and refuses a malformed line
// without repeating it.
func TestKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")

	require.NoError(t, auth.CreateKeyFile(path, "k1", rand.Reader))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "readable by its owner only")
	first, err := os.ReadFile(path)
	require.NoError(t, err)

	err = auth.CreateKeyFile(path, "k1", rand.Reader)
	assert.ErrorIs(t, err, fs.ErrExist, "never overwrites")
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, first, again, "the existing file is untouched")

	k, err := auth.ReadKeyFile(path)
	require.NoError(t, err)
	assert.Equal(t, "k1", k.Current)
	require.Len(t, k.Keys, 1)
	require.Len(t, k.Keys["k1"], 32)
	assert.Contains(t, string(first), "k1 "+base64.StdEncoding.EncodeToString(k.Keys["k1"])+"\n")
	assert.NotEqual(t, make([]byte, 32), k.Keys["k1"])
	assert.Regexp(t, `\A#[^\n]*\nk1 [A-Za-z0-9+/]{43}=\n\z`, string(first), "a comment, then the id, a space, the key in standard base64")

	// Two files, two keys.
	path2 := filepath.Join(dir, "keys2")
	require.NoError(t, auth.CreateKeyFile(path2, "k2", rand.Reader))
	k2, err := auth.ReadKeyFile(path2)
	require.NoError(t, err)
	assert.NotEqual(t, k.Keys["k1"], k2.Keys["k2"])

	// A bad id, and a random source that fails: no file.
	for name, create := range map[string]func(string) error{
		"bad id":        func(p string) error { return auth.CreateKeyFile(p, "bad id", rand.Reader) },
		"empty id":      func(p string) error { return auth.CreateKeyFile(p, "", rand.Reader) },
		"failing rand":  func(p string) error { return auth.CreateKeyFile(p, "k1", bytes.NewReader(make([]byte, 31))) },
		"missing dir":   func(p string) error { return auth.CreateKeyFile(filepath.Join(p, "sub", "keys"), "k1", rand.Reader) },
		"id too long":   func(p string) error { return auth.CreateKeyFile(p, strings.Repeat("k", 65), rand.Reader) },
		"id with slash": func(p string) error { return auth.CreateKeyFile(p, "k/1", rand.Reader) },
	} {
		p := filepath.Join(dir, "none-"+strings.ReplaceAll(name, " ", "-"))
		assert.Error(t, create(p), name)
		_, err := os.Stat(p)
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s: no file written", name)
	}

	key := func(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}

	// The first key is current; comments, blank lines and surrounding
	// space are ignored.
	p := write("ring", "# rotated 2025-03-14\n\n  k2 "+key(2)+"  \n# the old one\nk1 "+key(1)+"\n   \n\t\nold.key_3 "+key(3))
	ring, err := auth.ReadKeyFile(p)
	require.NoError(t, err)
	assert.Equal(t, "k2", ring.Current)
	assert.Equal(t, map[string][]byte{
		"k2": bytes.Repeat([]byte{2}, 32), "k1": bytes.Repeat([]byte{1}, 32), "old.key_3": bytes.Repeat([]byte{3}, 32),
	}, ring.Keys)
	p = write("crlf", "k1 "+key(1)+"\r\nk2 "+key(2)+"\r\n")
	ring, err = auth.ReadKeyFile(p)
	require.NoError(t, err, "CRLF line ends")
	assert.Equal(t, "k1", ring.Current)

	// The ring opens a store.
	s, err := auth.OpenMemory(context.Background(), auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: k})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Malformed files: an error naming the line, never its key.
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 33))
	for _, c := range []struct {
		name, content, secret string
	}{
		{"empty", "", ""},
		{"only comments", "# nothing\n\n", ""},
		{"id alone", "k1\n", ""},
		{"key alone", key(9) + "\n", key(9)},
		{"not base64", "k1 " + strings.Repeat("!", 44) + "\n", strings.Repeat("!", 44)},
		{"URL base64", "k1 " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))},
		{"31 bytes", "k1 " + short + "\n", short},
		{"33 bytes", "k1 " + long + "\n", long},
		{"bad id", "k/1 " + key(9) + "\n", key(9)},
		{"three fields", "k1 " + key(9) + " extra\n", key(9)},
		{"second line bad", "k1 " + key(8) + "\nk2 " + short + "\n", short},
		{"duplicate id", "k1 " + key(8) + "\nk1 " + key(9) + "\n", key(9)},
	} {
		p := write("bad-"+strings.ReplaceAll(c.name, " ", "-"), c.content)
		_, err := auth.ReadKeyFile(p)
		require.Error(t, err, c.name)
		if c.secret != "" {
			assert.NotContains(t, err.Error(), c.secret, c.name)
			assert.NotContains(t, err.Error(), c.secret[:16], c.name)
		}
		assert.NotContains(t, err.Error(), key(8), c.name)
	}
	_, err = auth.ReadKeyFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestKeyringConfig: a store refuses a malformed ring when it opens, and
// keeps its own copy of the keys, so that a caller who wipes its slice
// afterwards does not change them.
func TestKeyringConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := bytes.Repeat([]byte{1}, 32)
	for name, k := range map[string]*auth.Keyring{
		"current missing": {Current: "k2", Keys: map[string][]byte{"k1": key}},
		"no keys":         {Current: "k1"},
		"short key":       {Current: "k1", Keys: map[string][]byte{"k1": key[:31]}},
		"bad id":          {Current: "k 1", Keys: map[string][]byte{"k 1": key}},
	} {
		_, err := auth.OpenMemory(ctx, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: k})
		assert.ErrorContains(t, err, "SecretKeys", name)
	}

	mine := bytes.Clone(key)
	clk := testdb.NewClock(t0)
	s, err := auth.OpenMemory(ctx, auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, Now: clk.Now,
		SecretKeys: &auth.Keyring{Current: "k1", Keys: map[string][]byte{"k1": mine}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	alice := mustRegister(t, s, reg("alice"))
	e, err := s.EnrollTOTP(ctx, alice.ID)
	require.NoError(t, err)
	clear(mine)
	_, err = s.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: code(t, e.Secret, clk.Now()), Password: pw(alice.Username)})
	require.NoError(t, err, "the store's copy of the key is intact")
}

// TestSecondFactorChallengeSurvivesRehash: a rehash keeps the password, so
// it must not kill a login challenge issued for it, as it does not fail a
// login's session (TestRehashBetweenCheckAndWrite). Two instances, one at a
// higher bcrypt cost: the second's login rehashes between the first
// login's two steps.
func TestSecondFactorChallengeSurvivesRehash(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		low := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		high := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")), func(c *auth.Config) { c.BcryptCost = 5 })
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, low, reg("alice"))
		secret, _ := mustEnroll(t, low, clk, alice.ID)
		before, _ := storedHash(t, raw, alice.ID)

		ch := mustChallenge(t, low, "alice")
		mustChallenge(t, high, "alice") // rehashes at cost 5
		after, _ := storedHash(t, raw, alice.ID)
		require.NotEqual(t, before, after, "the second login rehashed")

		_, err := low.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
		require.NoError(t, err, "the password is the one the challenge was issued for")
	})
}

// TestSecondFactorUnreadableSecretRecorded: an answer to a challenge that
// the store cannot check, because the factor's secret does not decrypt (its
// key left the ring, or the row was tampered with), is counted in the
// throttle like every attempt, and so must be in the audit trail like every
// counted attempt.
func TestSecondFactorUnreadableSecretRecorded(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		lost := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2")))
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)
		failed := func() int {
			events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventLoginFailed}})
			require.NoError(t, err)
			return len(events)
		}

		ch := mustChallenge(t, lost, "alice")
		_, err := lost.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
		require.ErrorIs(t, err, auth.ErrNoSecretKey)
		assert.Equal(t, 1, failed(), "the counted attempt is in the trail")
	})
}

// TestSecondFactorChangesClearThrottle: removing the factor and
// regenerating recovery codes are throttled like a password change, in the
// user's change bucket, which counts every attempt until it succeeds; a
// success must clear it, as ChangePassword's does, or a user who does the
// right thing five times is made to wait the sixth.
func TestSecondFactorChangesClearThrottle(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")), withDefaultThrottles)
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)

		for i := range auth.DefaultLoginThrottle().FreeFailures {
			_, err := s.RegenerateRecoveryCodes(ctx, alice.ID, pw("alice"), code(t, secret, clk.Now()), 0)
			require.NoError(t, err, "regeneration %d", i+1)
			clk.Advance(totpStep)
		}
		clk.Advance(-totpStep) // right after the fifth; the next step's code is within the skew
		_, err := s.RegenerateRecoveryCodes(ctx, alice.ID, pw("alice"), code(t, secret, clk.Now().Add(totpStep)), 0)
		require.NoError(t, err, "a sixth, with the right password and a fresh code")
		require.NoError(t, s.ChangePassword(ctx, alice.ID, pw("alice"), "Changed-password-1"),
			"and a password change after it")
	})
}

// TestSessionProfile: SessionProfile is SessionUser with the second-factor
// status read in the same query: the same user, session and errors, and the
// status TwoFactor gives.
func TestSessionProfile(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		alice := mustRegister(t, s, reg("alice"))
		sess := mustLogin(t, s, "alice")
		check := func(want auth.TwoFactorStatus) {
			t.Helper()
			u, got, st, err := s.SessionProfile(ctx, sess.Token)
			require.NoError(t, err)
			u2, got2, err := s.SessionUser(ctx, sess.Token)
			require.NoError(t, err)
			assert.Equal(t, u2, u)
			assert.Equal(t, got2.ID, got.ID)
			assert.Equal(t, want, st)
			tf, err := s.TwoFactor(ctx, alice.ID)
			require.NoError(t, err)
			assert.Equal(t, tf, st)
		}
		check(auth.TwoFactorStatus{})
		_, err := s.EnrollTOTP(ctx, alice.ID)
		require.NoError(t, err)
		check(auth.TwoFactorStatus{EnrollmentPending: true})
		_, _, _, err = s.SessionProfile(ctx, sess.Token)
		require.NoError(t, err)
		secret, _ := mustEnroll(t, s, clk, alice.ID) // ends alice's other sessions
		clk.Advance(30 * time.Second)
		res, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: mustChallenge(t, s, "alice"), Code: code(t, secret, clk.Now())})
		require.NoError(t, err)
		sess = res.Session
		check(auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: auth.RecoveryCodeCount})

		for _, token := range []string{"", "not a token", sess.Token[:42] + "x"} {
			_, _, _, err := s.SessionProfile(ctx, token)
			assert.Equal(t, auth.ErrInvalidSession, err, "%q", token)
		}
		clk.Advance(auth.DefaultSessionIdleTimeout)
		_, _, _, err = s.SessionProfile(ctx, sess.Token)
		assert.Equal(t, auth.ErrInvalidSession, err, "idle too long")
	})
}

// TestSecondFactorLoginsClearThrottle: every login attempt counts in its
// identifier's bucket and the account's until it succeeds. A two-factor
// login's password stage must clear the identifier's (the challenge does
// not know which identifier was typed) and its second factor the
// account's, or a user who logs in correctly six times in a row is made to
// wait the seventh.
func TestSecondFactorLoginsClearThrottle(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")), withDefaultThrottles)
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)

		for i := range 2 * auth.DefaultLoginThrottle().FreeFailures {
			identifier := []string{"alice", "Alice@Example.com"}[i%2]
			ch := challengeOf(t, s, auth.LoginAttempt{Identifier: identifier, Password: pw("alice")})
			_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
			require.NoError(t, err, "login %d, as %s", i+1, identifier)
			clk.Advance(totpStep)
		}
		// Five wrong passwords after them are all evaluated.
		for i := range auth.DefaultLoginThrottle().FreeFailures {
			_, err := s.Login(ctx, "alice", "wrong password")
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, "failure %d", i+1)
			require.NotErrorIs(t, err, auth.ErrThrottled, "failure %d", i+1)
		}
	})
}
