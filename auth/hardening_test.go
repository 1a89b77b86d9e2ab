package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestResetTokenBoundToAddress: a token mailed to the old address must not
// reset the account once its address has changed, whichever address is
// given with it, and the change ends the user's other sessions.
func TestResetTokenBoundToAddress(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		u := mustRegister(t, s, reg("alice"))
		keep, err := s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		other, err := s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		r, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)

		_, err = s.UpdateUser(ctx, u.ID, auth.UserUpdate{Email: ptr("alice@new.example"), KeepSessionID: keep.ID})
		require.NoError(t, err)

		for _, email := range []string{"alice@example.com", "alice@new.example"} {
			assert.ErrorIs(t, s.ResetPassword(ctx, email, r.Token, "password-new"), auth.ErrInvalidResetToken, email)
		}
		_, _, err = s.SessionUser(ctx, other.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "the other session ended with the address change")
		_, _, err = s.SessionUser(ctx, keep.Token)
		assert.NoError(t, err, "the session that made the change is kept")

		// A change that leaves the canonical address as it was (only its
		// case) spends nothing.
		r, err = s.RequestPasswordReset(ctx, "alice@new.example")
		require.NoError(t, err)
		_, err = s.UpdateUser(ctx, u.ID, auth.UserUpdate{Email: ptr("Alice@New.Example")})
		require.NoError(t, err)
		_, _, err = s.SessionUser(ctx, keep.Token)
		assert.NoError(t, err)
		assert.NoError(t, s.ResetPassword(ctx, "alice@new.example", r.Token, "password-new"))
	})
}

// TestResetTokenRacesAddressChange races a reset request against an address
// change; whatever order they commit in, the token never resets the account
// under its new address unless it was issued for the new address.
func TestResetTokenRacesAddressChange(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		for i := range 20 {
			name := fmt.Sprint("user", i)
			u := mustRegister(t, s, reg(name))
			var (
				wg    sync.WaitGroup
				token string
			)
			wg.Go(func() {
				r, err := s.RequestPasswordReset(ctx, u.Email)
				if err == nil {
					token = r.Token
				} else if !errors.Is(err, auth.ErrNotFound) {
					t.Errorf("request: %v", err)
				}
			})
			_, err := s.UpdateUser(ctx, u.ID, auth.UserUpdate{Email: ptr(name + "@new.example")})
			require.NoError(t, err)
			wg.Wait()
			if token == "" {
				continue // the request looked the old address up after it changed
			}
			assert.ErrorIs(t, s.ResetPassword(ctx, name+"@new.example", token, "password-new"), auth.ErrInvalidResetToken, "round %d", i)
		}
	})
}

// TestNULPasswords: bcrypt repeats the key with a NUL between copies, so a
// password with NUL bytes could equal a different one. NUL and other
// control characters are refused wherever a password enters.
func TestNULPasswords(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		u := mustRegister(t, s, reg("alice"))
		p := pw("alice")

		for _, bad := range []string{p + "\x00" + p, p + "\x00", "\x00\x00\x00\x00\x00\x00\x00\x00", p + "\t", p + "\x7f"} {
			_, err := s.Login(ctx, "alice", bad)
			assert.ErrorIs(t, err, auth.ErrInvalidCredentials, "login with %q", bad)
			requireValidation(t, err, "password")
			_, _, err = s.LoginSession(ctx, "alice", bad)
			assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
			requireValidation(t, s.ChangePassword(ctx, u.ID, p, bad), "new_password")
			err = s.ChangePassword(ctx, u.ID, bad, "password-new")
			assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
			requireValidation(t, err, "current_password")
			requireValidation(t, s.SetPassword(ctx, u.ID, bad), "new_password")
			_, err = s.Register(ctx, auth.Registration{Username: "bob", Email: "bob@example.com", Password: bad})
			requireValidation(t, err, "password")
		}
		_, err := s.Login(ctx, "alice", p)
		assert.NoError(t, err, "the real password still works")
	})
}

// TestRowsFromTheFuture: a session or reset token made while the clock ran a
// year ahead must not stay valid once the clock is corrected.
func TestRowsFromTheFuture(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clock := testdb.NewClock(t0.AddDate(1, 0, 0))
		s := newStore(t, dsn, withClock(clock))
		u := mustRegister(t, s, reg("alice"))
		sess, err := s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		r, err := s.RequestPasswordReset(ctx, u.Email)
		require.NoError(t, err)

		clock.Set(t0) // corrected
		_, _, err = s.SessionUser(ctx, sess.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession)
		assert.ErrorIs(t, s.ResetPassword(ctx, u.Email, r.Token, "password-new"), auth.ErrInvalidResetToken)

		// Within MaxClockSkew ahead is another instance's clock, not a
		// wrong one.
		clock.Set(t0.Add(auth.MaxClockSkew / 2))
		sess, err = s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		r, err = s.RequestPasswordReset(ctx, u.Email)
		require.NoError(t, err)
		clock.Set(t0)
		_, _, err = s.SessionUser(ctx, sess.Token)
		assert.NoError(t, err)
		assert.NoError(t, s.ResetPassword(ctx, u.Email, r.Token, "password-new"))
	})
}

// TestBadBytesNeverReachSQL: invalid UTF-8 and NUL are refused before any
// query, with the same typed error on both engines (PostgreSQL used to fail
// with SQLSTATE 22021, an untyped error and a 500).
func TestBadBytesNeverReachSQL(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		mustRegister(t, s, reg("bob"))
		for _, bad := range []string{"bob\x00@example.com", "bob\xff@example.com", "bob@exa\x00mple.com", "\xc3", "bob\x00", "b\xffob"} {
			_, err := s.Login(ctx, bad, pw("bob"))
			assert.Equal(t, auth.ErrInvalidCredentials, err, "login %q", bad)
			_, err = s.UserByEmail(ctx, bad)
			assert.ErrorIs(t, err, auth.ErrNotFound, "by email %q", bad)
			_, err = s.UserByUsername(ctx, bad)
			assert.ErrorIs(t, err, auth.ErrNotFound, "by username %q", bad)
			_, err = s.UserByPublicID(ctx, bad)
			assert.ErrorIs(t, err, auth.ErrNotFound, "by public id %q", bad)
			_, err = s.RequestPasswordReset(ctx, bad)
			requireValidation(t, err, "email")
			assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, bad, strings.Repeat("A", 43), "password-new"), "reset %q", bad)
			_, err = s.Register(ctx, auth.Registration{Username: "carol", Email: bad, Password: "password-c"})
			requireValidation(t, err, "email")
			_, err = s.Register(ctx, auth.Registration{Username: bad, Email: "carol@example.com", Password: "password-c"})
			requireValidation(t, err, "username")
		}
	})
}

func TestUserByPublicIDAnyCase(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		u := mustRegister(t, s, reg("alice"))
		got, err := s.UserByPublicID(ctx, strings.ToUpper(u.PublicID))
		require.NoError(t, err)
		assert.Equal(t, u.ID, got.ID)
		_, err = s.UserByPublicID(ctx, strings.ReplaceAll(u.PublicID, "-", "_"))
		assert.ErrorIs(t, err, auth.ErrNotFound)
	})
}
