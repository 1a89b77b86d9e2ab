package auth_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestDisableUser: disabling ends every session and refresh-token family at
// once, refuses logins (ErrAccountDisabled only for the right password),
// refreshes and resets, keeps the data, and is audited with its reason and
// its actor; enabling lets the owner in again.
func TestDisableUser(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		sender := &recordingSender{}
		s := tokenStore(t, dsn, clk, func(c *auth.Config) { c.ResetSender = sender })
		root := mustRegister(t, s, reg("root"))
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		sess := mustLogin(t, s, "alice")
		tokens := mustTokens(t, s, "alice")
		reset, err := s.RequestPasswordReset(ctx, alice.Email)
		require.NoError(t, err)
		bobSess := mustLogin(t, s, "bob")

		admin := auth.WithActor(ctx, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID})
		require.NoError(t, s.DisableUser(admin, alice.ID, "left the company"))

		u, err := s.User(ctx, alice.ID)
		require.NoError(t, err)
		require.NotNil(t, u.DisabledAt, "the account is disabled")
		assert.WithinDuration(t, clk.Now(), *u.DisabledAt, time.Millisecond)
		assert.Equal(t, time.UTC, u.DisabledAt.Location())
		assert.Equal(t, alice.Email, u.Email, "the data stays")
		b, err := json.Marshal(u)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"disabled_at":`)

		// Every session and token family ended.
		_, _, err = s.SessionUser(ctx, sess.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession)
		_, err = s.RefreshTokens(ctx, tokens.RefreshToken)
		assert.ErrorIs(t, err, auth.ErrInvalidRefreshToken)
		sessions, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, sessions)
		_, _, err = s.SessionUser(ctx, bobSess.Token)
		assert.NoError(t, err, "other users keep theirs")

		// Logins: the right password learns it, the wrong one does not.
		_, _, err = s.LoginSession(ctx, "alice", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrAccountDisabled)
		assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
		_, err = s.IssueTokens(ctx, auth.LoginAttempt{Identifier: alice.Email, Password: pw("alice")})
		assert.ErrorIs(t, err, auth.ErrAccountDisabled)
		_, err = s.Login(ctx, "alice", "wrong password")
		assert.Equal(t, auth.ErrInvalidCredentials, err, "a wrong password: as for any account")
		_, err = s.Login(ctx, "nobody", "wrong password")
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		_, err = s.CreateSession(ctx, alice.ID)
		assert.ErrorIs(t, err, auth.ErrAccountDisabled)

		// Resets: the old token is refused, a request sends nothing and
		// answers as for an unknown address.
		assert.ErrorIs(t, s.ResetPassword(ctx, alice.Email, reset.Token, "a-brand-new-password"), auth.ErrInvalidResetToken)
		sent := len(sender.msgs)
		_, err = s.RequestPasswordReset(ctx, alice.Email)
		assert.ErrorIs(t, err, auth.ErrNotFound)
		_, errUnknown := s.RequestPasswordReset(ctx, "nobody@example.com")
		assert.Equal(t, errUnknown.Error(), err.Error(), "the same answer as an unknown address")
		assert.Len(t, sender.msgs, sent, "nothing sent")

		// Disabling again changes nothing.
		require.NoError(t, s.DisableUser(admin, alice.ID, "again"))

		// The trail: the disable with its reason and actor, the refusals.
		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventUserDisabled}})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.JSONEq(t, `{"reason": "left the company", "sessions_ended": 2}`, string(events[0].Detail))
		assert.Equal(t, auth.ActorAdmin, events[0].Actor.Kind)
		assert.Equal(t, root.ID, events[0].Actor.UserID)
		failed, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventLoginFailed}})
		require.NoError(t, err)
		reasons := []string{}
		for _, e := range failed {
			var d struct{ Reason string }
			require.NoError(t, json.Unmarshal(e.Detail, &d))
			reasons = append(reasons, d.Reason)
		}
		assert.Equal(t, []string{"disabled", "disabled", "wrong_password"}, reasons)

		// Enabling lets the owner in again, with the same password.
		require.NoError(t, s.EnableUser(admin, alice.ID))
		u, err = s.User(ctx, alice.ID)
		require.NoError(t, err)
		assert.Nil(t, u.DisabledAt)
		b, err = json.Marshal(u)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "disabled_at")
		mustLogin(t, s, "alice")
		_, err = s.RequestPasswordReset(ctx, alice.Email)
		assert.NoError(t, err)
		events, err = s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventUserEnabled}})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.Equal(t, root.ID, events[0].Actor.UserID)

		assert.ErrorIs(t, s.DisableUser(ctx, 1<<40, ""), auth.ErrNotFound)
		assert.ErrorIs(t, s.EnableUser(ctx, 1<<40), auth.ErrNotFound)
		requireValidation(t, s.DisableUser(ctx, bob.ID, "bell\a"), "reason")
	})
}

// TestDisableUserSecondFactor: for a user with a second factor, disabling
// deletes the pending challenges, and the password step of a disabled
// account refuses the right password with ErrAccountDisabled before any
// challenge.
func TestDisableUserSecondFactor(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)
		challenge := mustChallenge(t, s, "alice")

		require.NoError(t, s.DisableUser(ctx, alice.ID, "lost phone"))
		_, err := s.CompleteLogin(ctx, auth.SecondFactor{Challenge: challenge, Code: code(t, secret, clk.Now())})
		assert.Equal(t, auth.ErrInvalidCredentials, err, "the challenge went with the disable")
		_, err = s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		assert.ErrorIs(t, err, auth.ErrAccountDisabled)
		assert.NotErrorIs(t, err, auth.ErrSecondFactorRequired)

		require.NoError(t, s.EnableUser(ctx, alice.ID))
		challenge = mustChallenge(t, s, "alice")
		_, err = s.CompleteLogin(ctx, auth.SecondFactor{Challenge: challenge, Code: code(t, secret, clk.Now())})
		assert.NoError(t, err)
	})
}
