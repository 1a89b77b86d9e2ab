package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/testdb"
)

// These tests put a password write exactly between the check of a password
// (outside any transaction, because bcrypt is slow) and the transaction that
// acts on it, which a black-box test can only hope to hit by racing.

func openInternal(t *testing.T, dsn string) *Store {
	t.Helper()
	lenient := ThrottlePolicy{FreeFailures: 1e6, BaseDelay: time.Second, MaxDelay: time.Second, DailyFailures: 1e6}
	s, err := Open(context.Background(), dsn, Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, LoginThrottle: lenient, ResetThrottle: lenient,
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNoSessionAfterPasswordWrite(t *testing.T) {
	t.Parallel()
	writes := []struct {
		name  string
		write func(t *testing.T, s *Store, u User)
	}{
		{"reset", func(t *testing.T, s *Store, u User) {
			r, err := s.RequestPasswordReset(context.Background(), u.Email)
			require.NoError(t, err)
			require.NoError(t, s.ResetPassword(context.Background(), u.Email, r.Token, "password-new"))
		}},
		{"change", func(t *testing.T, s *Store, u User) {
			require.NoError(t, s.ChangePassword(context.Background(), u.ID, "password-old", "password-new"))
		}},
		{"set", func(t *testing.T, s *Store, u User) {
			require.NoError(t, s.SetPassword(context.Background(), u.ID, "password-new"))
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := openInternal(t, dsn)
				u, err := s.Register(ctx, Registration{Username: "victim", Email: "victim@example.com", Password: "password-old"})
				require.NoError(t, err)

				// The attacker's login verifies the stolen password...
				attempt := LoginAttempt{Identifier: "victim", Password: "password-old"}
				v, err := s.authenticate(ctx, attempt)
				require.NoError(t, err)
				// ...the victim changes it...
				w.write(t, s, u)
				// ...and the attacker's login goes on to make its session.
				_, err = s.grant(ctx, v, outDevice)
				assert.ErrorIs(t, err, ErrInvalidCredentials)
				_, err = s.grantSession(ctx, v, outSession, v.password.hash)
				assert.ErrorIs(t, err, errCredentialChanged)

				sessions, err := s.ListSessions(ctx, u.ID)
				require.NoError(t, err)
				assert.Empty(t, sessions, "no session survives the password write")
				_, _, err = s.LoginSession(ctx, "victim", "password-new")
				assert.NoError(t, err, "the new password logs in")
			})
		})
	}
}

// TestRehashBetweenCheckAndWrite: a concurrent login that rehashes the same
// password changes the stored hash but not the password; a login's session
// must not fail for it. (TestChangePasswordDuringRehash races the same for
// ChangePassword, whose check and write are both inside the method.)
func TestRehashBetweenCheckAndWrite(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := openInternal(t, dsn)
		u, err := s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		rehashSamePassword := func(old []byte) {
			t.Helper()
			h, err := hasher{algorithm: HashBcrypt, cost: 5}.hash("password-a")
			require.NoError(t, err)
			require.NoError(t, s.inTx(ctx, "rehash", func(tx *txn) error {
				n, err := tx.q.RehashPassword(ctx, db.RehashPasswordParams{NewHash: string(h), OldHash: string(old), UserID: u.ID})
				require.EqualValues(t, 1, n)
				return err
			}))
		}

		attempt := LoginAttempt{Identifier: "alice", Password: "password-a"}
		v, err := s.authenticate(ctx, attempt)
		require.NoError(t, err)
		rehashSamePassword([]byte(v.password.hash))
		r, err := s.grant(ctx, v, outSession)
		require.NoError(t, err, "the password is still right: verified again against the new hash")
		assert.NotEmpty(t, r.session.Token)
		assert.Equal(t, u.ID, r.user.ID)

		// The same for an operation that proves the current password before
		// its transaction (an address change here; ConfirmTOTP,
		// ChangePassword and DeleteAccount retry through the same
		// whileProven).
		hash, tr, verr, err := s.verifyCurrentPassword(ctx, "update own user", u.ID, FieldCurrentPassword, "password-a")
		require.NoError(t, err)
		require.NoError(t, verr)
		rehashSamePassword([]byte(hash))
		got, err := s.updateUser(ctx, "update own user", u.ID, UserUpdate{Email: ptrTo("alice2@example.com")},
			&passwordProof{bucket: tr.bucket, provenPassword: provenPassword{
				userID: u.ID, field: FieldCurrentPassword, password: "password-a", hash: hash,
			}})
		require.NoError(t, err, "the password is still right: verified again against the new hash")
		assert.Equal(t, "alice2@example.com", got.Email)
	})
}

// TestOwnUpdateAfterPasswordWrite: an address change whose current password
// was verified against a hash that a password write then replaced is
// refused in its transaction, and changes nothing.
func TestOwnUpdateAfterPasswordWrite(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := openInternal(t, dsn)
		u, err := s.Register(ctx, Registration{Username: "victim", Email: "victim@example.com", Password: "password-old"})
		require.NoError(t, err)

		// The attacker's check of the stolen password...
		hash, tr, verr, err := s.verifyCurrentPassword(ctx, "update own user", u.ID, FieldCurrentPassword, "password-old")
		require.NoError(t, err)
		require.NoError(t, verr)
		// ...the victim changes the password...
		require.NoError(t, s.SetPassword(ctx, u.ID, "password-new"))
		// ...and the address change that acts on the check is refused.
		_, err = s.updateUser(ctx, "update own user", u.ID, UserUpdate{Email: ptrTo("attacker@example.com")},
			&passwordProof{bucket: tr.bucket, provenPassword: provenPassword{
				userID: u.ID, field: FieldCurrentPassword, password: "password-old", hash: hash,
			}})
		require.ErrorIs(t, err, ErrInvalidCredentials)
		got, err := s.User(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, "victim@example.com", got.Email)

		// With the password as it is now, the same change goes through.
		got, err = s.UpdateOwnUser(ctx, u.ID, "password-new", UserUpdate{Email: ptrTo("victim2@example.com")})
		require.NoError(t, err)
		assert.Equal(t, "victim2@example.com", got.Email)
	})
}

func ptrTo[T any](v T) *T { return &v }
