package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestUpdateOwnUser: an email change needs the right current password; the
// user cannot make themselves an administrator; the change is the user's
// own in the audit trail and ends their other sessions.
func TestUpdateOwnUser(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		u := mustRegister(t, s, reg("olga"))
		keep, other := mustSession(t, s, u.ID), mustSession(t, s, u.ID)

		_, err := s.UpdateOwnUser(ctx, u.ID, "", auth.UserUpdate{Email: ptr("new@example.com")})
		requireValidation(t, err, auth.FieldCurrentPassword)
		_, err = s.UpdateOwnUser(ctx, u.ID, pw("olga"), auth.UserUpdate{IsAdmin: ptr(true)})
		requireValidation(t, err, "is_admin")
		_, err = s.UpdateOwnUser(ctx, u.ID, "wrong-password", auth.UserUpdate{Email: ptr("new@example.com")})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		got, err := s.User(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.Email, got.Email, "a refused change writes nothing")

		got, err = s.UpdateOwnUser(ctx, u.ID, pw("olga"), auth.UserUpdate{Email: ptr("new@example.com"), KeepSessionID: keep.ID})
		require.NoError(t, err)
		assert.Equal(t, "new@example.com", got.Email)
		assert.True(t, alive(t, s, keep.Token))
		assert.False(t, alive(t, s, other.Token), "an address change ends the other sessions")

		// A username change needs no password.
		got, err = s.UpdateOwnUser(ctx, u.ID, "", auth.UserUpdate{Username: ptr("olga2")})
		require.NoError(t, err)
		assert.Equal(t, "olga2", got.Username)

		events := walk(t, s, auth.AuditFilter{UserID: u.ID, Types: []auth.EventType{auth.EventUserUpdated}})
		require.Len(t, events, 2)
		for _, e := range events {
			assert.Equal(t, self(u), e.Actor)
		}
	})
}

// TestDeleteAccount: the password must be right; with a second factor a
// code is required, asked for before any password work, and must be right.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))

		plain := mustRegister(t, s, reg("pavel"))
		require.ErrorIs(t, s.DeleteAccount(ctx, plain.ID, "wrong-password", ""), auth.ErrInvalidCredentials)
		require.NoError(t, s.DeleteAccount(ctx, plain.ID, pw("pavel"), ""))
		_, err := s.User(ctx, plain.ID)
		require.ErrorIs(t, err, auth.ErrNotFound)
		events := walk(t, s, auth.AuditFilter{UserID: plain.ID, Types: []auth.EventType{auth.EventUserDeleted}})
		require.Len(t, events, 1)
		assert.Equal(t, self(plain), events[0].Actor)

		twofa := mustRegister(t, s, reg("quinn"))
		secret, _ := mustEnroll(t, s, clk, twofa.ID)
		require.ErrorIs(t, s.DeleteAccount(ctx, twofa.ID, pw("quinn"), ""), auth.ErrSecondFactorRequired)
		require.ErrorIs(t, s.DeleteAccount(ctx, twofa.ID, pw("quinn"), wrongCode(t, secret, clk.Now())), auth.ErrInvalidCredentials)
		require.ErrorIs(t, s.DeleteAccount(ctx, twofa.ID, "wrong-password", code(t, secret, clk.Now())), auth.ErrInvalidCredentials)
		_, err = s.User(ctx, twofa.ID)
		require.NoError(t, err, "refused deletes delete nothing")
		clk.Advance(30 * time.Second)
		require.NoError(t, s.DeleteAccount(ctx, twofa.ID, pw("quinn"), code(t, secret, clk.Now())))
		_, err = s.User(ctx, twofa.ID)
		require.ErrorIs(t, err, auth.ErrNotFound)

		// A user who lost the device deletes with a recovery code.
		lost := mustRegister(t, s, reg("rosa"))
		_, recovery := mustEnroll(t, s, clk, lost.ID)
		require.ErrorIs(t, s.DeleteAccount(ctx, lost.ID, "wrong-password", recovery[0]), auth.ErrInvalidCredentials)
		require.ErrorIs(t, s.DeleteAccount(ctx, lost.ID, pw("rosa"), "ABCD-EFGH-JKMN-PQRS"), auth.ErrInvalidCredentials,
			"a code of the recovery form that is not one of hers")
		_, err = s.User(ctx, lost.ID)
		require.NoError(t, err, "refused deletes delete nothing")
		require.NoError(t, s.DeleteAccount(ctx, lost.ID, pw("rosa"), strings.ToLower(recovery[1])))
		_, err = s.User(ctx, lost.ID)
		require.ErrorIs(t, err, auth.ErrNotFound)
	})
}

// TestRevokeOtherSessions ends every session but the one kept, and counts
// them.
func TestRevokeOtherSessions(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		u := mustRegister(t, s, reg("rita"))
		keep, a, b := mustSession(t, s, u.ID), mustSession(t, s, u.ID), mustSession(t, s, u.ID)
		n, err := s.RevokeOtherSessions(ctx, u.ID, keep.ID)
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)
		assert.True(t, alive(t, s, keep.Token))
		assert.False(t, alive(t, s, a.Token))
		assert.False(t, alive(t, s, b.Token))
		n, err = s.RevokeOtherSessions(ctx, u.ID, keep.ID)
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = s.RevokeOtherSessions(ctx, u.ID+1000, 0)
		require.NoError(t, err)
		assert.Zero(t, n, "no account, no sessions")
	})
}
