package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// recordingSender keeps the messages it is given.
type recordingSender struct {
	mu   sync.Mutex
	msgs []auth.Message
	err  error
}

func (r *recordingSender) Send(_ context.Context, m auth.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return r.err
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		sender := &recordingSender{}
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) { c.ResetSender = sender })
		alice := mustRegister(t, s, reg("alice"))
		sess1, sess2 := mustLogin(t, s, "alice"), mustLogin(t, s, "alice")

		r, err := s.RequestPasswordReset(ctx, "Alice@Example.com")
		require.NoError(t, err)
		assert.Equal(t, alice.ID, r.UserID)
		assert.Equal(t, "alice@example.com", r.Email, "the stored address")
		assert.Len(t, r.Token, 43)
		assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond).Add(auth.DefaultResetTokenLifetime), r.ExpiresAt)
		require.Len(t, sender.msgs, 1)
		assert.Equal(t, "alice@example.com", sender.msgs[0].To)
		assert.Contains(t, sender.msgs[0].Body, r.Token, "the message carries the token")

		assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, "alice@example.com", mustLoginToken(t, s), "a-new-password"),
			"a session token is not a reset token")
		require.NoError(t, s.ResetPassword(ctx, "ALICE@example.com", r.Token, "a-new-password"))
		assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, "alice@example.com", r.Token, "another-password"), "spent")

		for _, sess := range []auth.Session{sess1, sess2} {
			_, _, err := s.SessionUser(ctx, sess.Token)
			assert.Equal(t, auth.ErrInvalidSession, err, "a reset ends every session")
		}
		_, err = s.Login(ctx, "alice", pw("alice"))
		assert.Equal(t, auth.ErrInvalidCredentials, err, "the old password is refused")
		_, err = s.Login(ctx, "alice", "a-new-password")
		assert.NoError(t, err)
	})
}

// mustLoginToken returns the token of a fresh session of alice.
func mustLoginToken(t *testing.T, s *auth.Store) string {
	t.Helper()
	_, sess, err := s.LoginSession(context.Background(), "alice", pw("alice"))
	require.NoError(t, err)
	return sess.Token
}

func TestPasswordResetRefusals(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		mustRegister(t, s, reg("alice"))
		mustRegister(t, s, reg("bob"))

		t.Run("a newer token replaces the older", func(t *testing.T) {
			old, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			newer, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			assert.NotEqual(t, old.Token, newer.Token)
			assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, "alice@example.com", old.Token, "a-new-password"))
			assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", newer.Token, pw("alice")))
		})

		t.Run("expires after 30 minutes", func(t *testing.T) {
			r, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			clk.Advance(auth.DefaultResetTokenLifetime)
			assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, "alice@example.com", r.Token, "a-new-password"))

			r, err = s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			clk.Advance(auth.DefaultResetTokenLifetime - time.Second)
			assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, pw("alice")), "one second before expiry")
		})

		t.Run("the token of another user's email", func(t *testing.T) {
			r, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, "bob@example.com", r.Token, "a-new-password"))
			_, err = s.Login(ctx, "bob", pw("bob"))
			assert.NoError(t, err, "bob's password is unchanged")
			assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, pw("alice")), "not spent by the failed use")
		})

		t.Run("a new password that breaks the policy leaves the token usable", func(t *testing.T) {
			r, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			err = s.ResetPassword(ctx, "alice@example.com", r.Token, "short")
			var v *auth.ValidationError
			require.ErrorAs(t, err, &v)
			assert.Contains(t, v.Fields, auth.FieldNewPassword)
			assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, pw("alice")))
		})

		t.Run("bad tokens and emails", func(t *testing.T) {
			r, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			for name, tc := range map[string]struct{ email, token string }{
				"empty token":   {"alice@example.com", ""},
				"garbage token": {"alice@example.com", "garbage"},
				"hash as token": {"alice@example.com", sha256Hex(r.Token)},
				"empty email":   {"", r.Token},
				"unknown email": {"nobody@example.com", r.Token},
			} {
				assert.Equal(t, auth.ErrInvalidResetToken, s.ResetPassword(ctx, tc.email, tc.token, "a-new-password"), name)
			}
			assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, pw("alice")))
		})

		t.Run("requests for unknown or missing emails", func(t *testing.T) {
			_, err := s.RequestPasswordReset(ctx, "nobody@example.com")
			assert.ErrorIs(t, err, auth.ErrNotFound)
			_, err = s.RequestPasswordReset(ctx, "")
			var v *auth.ValidationError
			require.ErrorAs(t, err, &v)
			assert.Contains(t, v.Fields, auth.FieldEmail)
		})
	})
}

// TestPasswordResetConcurrentUse spends one token from many goroutines at
// once: exactly one succeeds.
func TestPasswordResetConcurrentUse(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		mustRegister(t, s, reg("alice"))
		for round := range 5 {
			r, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = s.ResetPassword(ctx, "alice@example.com", r.Token, "new-password-"+string(rune('a'+i)))
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for _, err := range errs {
				switch {
				case err == nil:
					winners++
				case errors.Is(err, auth.ErrInvalidResetToken):
				default:
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			}
			assert.Equal(t, 1, winners, "round %d", round)
		}
	})
}

func TestPasswordResetDeliveryFailure(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		boom := errors.New("mail server down")
		s := newStore(t, dsn, func(c *auth.Config) {
			c.ResetSender = &recordingSender{err: boom}
		})
		mustRegister(t, s, reg("alice"))
		r, err := s.RequestPasswordReset(ctx, "alice@example.com")
		assert.ErrorIs(t, err, boom)
		assert.NotContains(t, err.Error(), r.Token, "the error does not carry the token")
	})
}

// TestResetRequestsForNoAccountBounded: a flood of reset requests for
// addresses without an account (anyone can send them) adds at most one
// event a minute to the audit trail, which is kept for a year; the next
// one says how many were not recorded. Requests for an account are all
// recorded.
func TestResetRequestsForNoAccountBounded(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		alice := mustRegister(t, s, reg("alice"))
		requested := func() []auth.AuditEvent {
			return walk(t, s, auth.AuditFilter{Types: []auth.EventType{auth.EventResetRequested}})
		}
		for i := range 200 {
			_, err := s.RequestPasswordReset(ctx, fmt.Sprintf("nobody%d@example.com", i))
			require.ErrorIs(t, err, auth.ErrNotFound)
		}
		_, err := s.RequestPasswordReset(ctx, alice.Email)
		require.NoError(t, err)
		events := requested()
		require.Len(t, events, 2, "one for the 200 without an account, one for alice")
		assert.JSONEq(t, `{"unknown_account": true}`, string(events[0].Detail))
		assert.Equal(t, alice.ID, events[1].UserID)

		clk.Advance(time.Minute)
		_, err = s.RequestPasswordReset(ctx, "nobody-else@example.com")
		require.ErrorIs(t, err, auth.ErrNotFound)
		events = requested()
		require.Len(t, events, 3)
		assert.JSONEq(t, `{"unknown_account": true, "not_recorded_before": 199}`, string(events[2].Detail))
	})
}
