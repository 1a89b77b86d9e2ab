package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
	"github.com/credstore/credstore/internal/testhook"
)

// TestResetEndsConcurrentLogins: logins with a stolen password race the
// victim's reset. Once the reset has returned and the logins have ended, no
// session may be alive: a login that verified the old password before the
// reset committed must not commit its session after it. The first login to
// get its turn at the hash gate (it has read the old hash) runs the whole
// reset before it compares, so in every round at least one login verifies
// the old password across the reset's commit, on any machine; the others
// race it freely.
func TestResetEndsConcurrentLogins(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, func(c *auth.Config) { c.MaxConcurrentHashes = 8 }) // the reset hashes while a login holds a turn
		u := mustRegister(t, s, reg("victim"))
		for round := range 4 {
			old, next := pw(fmt.Sprint("victim", round)), pw(fmt.Sprint("victim", round+1))
			if round == 0 {
				old = pw("victim")
			}
			r, err := s.RequestPasswordReset(ctx, u.Email)
			require.NoError(t, err)
			var once sync.Once
			resetErr := errors.New("the reset did not run")
			loginCtx := testhook.With(ctx, &testhook.Hooks{HashTurn: func(context.Context) {
				once.Do(func() { resetErr = s.ResetPassword(ctx, u.Email, r.Token, next) })
			}})
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					<-start
					for range 3 {
						_, _, err := s.LoginSession(loginCtx, "victim", old)
						if err != nil && !errors.Is(err, auth.ErrInvalidCredentials) {
							t.Errorf("login: %v", err)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			require.NoError(t, resetErr)
			sessions, err := s.ListSessions(ctx, u.ID)
			require.NoError(t, err)
			require.Empty(t, sessions, "round %d: sessions made with the old password outlived the reset", round)
		}
	})
}

// TestChangePasswordDuringRehash: a login that rehashes the password (the
// store's cost went up) commits while the user changes their password with
// the right current one. The change must succeed every time.
func TestChangePasswordDuringRehash(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		low := newStore(t, dsn)                                             // hashes at cost 4
		high := newStore(t, dsn, func(c *auth.Config) { c.BcryptCost = 6 }) // rehashes cost-4 hashes on login
		u := mustRegister(t, low, reg("alice"))
		current := pw("alice")
		for i := range 25 {
			next := pw(fmt.Sprint("alice", i))
			var wg sync.WaitGroup
			wg.Go(func() {
				// The change may commit first: then the old password is
				// rightly wrong, and there is nothing to rehash.
				if _, err := high.Login(ctx, "alice", current); err != nil && !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Errorf("login %d: %v", i, err)
				}
			})
			err := low.ChangePassword(ctx, u.ID, current, next) // stores a cost-4 hash again
			wg.Wait()
			require.NoError(t, err, "change %d", i)
			current = next
		}
	})
}

// TestDeleteRacesPasswordWrites: on PostgreSQL a password write used to lock
// credentials then users while DeleteUser locks users then credentials (its
// cascade), a deadlock the server breaks by failing one of them. Every call
// must now end in success or its typed error.
func TestDeleteRacesPasswordWrites(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		for i := range 30 {
			u := mustRegister(t, s, reg(fmt.Sprint("user", i)))
			sess, err := s.CreateSession(ctx, u.ID)
			require.NoError(t, err)
			r, err := s.RequestPasswordReset(ctx, u.Email)
			require.NoError(t, err)
			var wg sync.WaitGroup
			ops := map[string]func() error{
				"delete": func() error { return s.DeleteUser(ctx, u.ID) },
				"set":    func() error { return s.SetPassword(ctx, u.ID, "password-set") },
				"change": func() error { return s.ChangePassword(ctx, u.ID, pw(fmt.Sprint("user", i)), "password-changed") },
				"reset":  func() error { return s.ResetPassword(ctx, u.Email, r.Token, "password-reset") },
				"login": func() error {
					_, _, err := s.LoginSession(ctx, u.Username, pw(fmt.Sprint("user", i)))
					return err
				},
				"update": func() error {
					_, err := s.UpdateUser(ctx, u.ID, auth.UserUpdate{Email: ptr(fmt.Sprintf("moved%d@example.com", i))})
					return err
				},
				"session": func() error { _, err := s.CreateSession(ctx, u.ID); return err },
				"logout":  func() error { return s.DestroySession(ctx, sess.Token) },
			}
			for name, op := range ops {
				wg.Go(func() {
					err := op()
					for _, typed := range []error{auth.ErrNotFound, auth.ErrInvalidCredentials, auth.ErrInvalidResetToken, auth.ErrInvalidSession} {
						if errors.Is(err, typed) {
							return
						}
					}
					assert.NoError(t, err, "%s in round %d", name, i)
				})
			}
			wg.Wait()
		}
	})
}

// hookRand is crypto/rand that runs a function once, before the after-th
// read since it was armed: a way into a call at the moment it draws a
// token, when its password has been checked or its transaction has
// committed.
type hookRand struct {
	mu    sync.Mutex
	after int
	next  func()
}

func (h *hookRand) arm(after int, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after, h.next = after, f
}

// disarm forgets the function and reports whether it ran.
func (h *hookRand) disarm() (ran bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ran = h.next == nil
	h.next = nil
	return ran
}

func (h *hookRand) Read(p []byte) (int, error) {
	h.mu.Lock()
	var f func()
	if h.next != nil {
		if h.after--; h.after == 0 {
			f, h.next = h.next, nil
		}
	}
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return rand.Read(p)
}

// TestRenewedSessionDoesNotOutliveReset: a password change that keeps its
// caller signed in (ChangePasswordSession, ChangePasswordTokens) races a
// reset by the account's owner. The reset lands at each moment the change
// draws a token, and after it returns. Whatever the order, once the reset
// has succeeded no session of the user is alive: the change's new session
// must not be started after the reset committed, as it was when the
// change's handler called CreateSession after ChangePassword.
func TestRenewedSessionDoesNotOutliveReset(t *testing.T) {
	t.Parallel()
	changes := map[string]func(s *auth.Store, id int64, current, next string) (session, refresh string, err error){
		"session": func(s *auth.Store, id int64, current, next string) (string, string, error) {
			_, sess, err := s.ChangePasswordSession(context.Background(), id, current, next)
			return sess.Token, "", err
		},
		"tokens": func(s *auth.Store, id int64, current, next string) (string, string, error) {
			r, err := s.ChangePasswordTokens(context.Background(), id, current, next)
			return "", r.RefreshToken, err
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				hook := &hookRand{}
				s := newStore(t, dsn, withKeys(testKeys("k1")), func(c *auth.Config) { c.Rand = hook })
				for after := 1; after <= 4; after++ {
					u := mustRegister(t, s, reg(fmt.Sprint("victim", after)))
					r, err := s.RequestPasswordReset(ctx, u.Email)
					require.NoError(t, err)
					var resetErr error
					reset := func() { resetErr = s.ResetPassword(ctx, u.Email, r.Token, "password-of-the-owner") }
					hook.arm(after, reset)
					session, refresh, changeErr := change(s, u.ID, pw(fmt.Sprint("victim", after)), "password-of-the-thief")
					if !hook.disarm() {
						reset() // the change drew fewer tokens: the reset comes after it
					}
					if changeErr != nil {
						require.ErrorIs(t, changeErr, auth.ErrInvalidCredentials, "draw %d: the reset came first", after)
					}
					if resetErr != nil {
						require.NoError(t, changeErr, "draw %d: only a change that committed first may end the reset token", after)
						require.ErrorIs(t, resetErr, auth.ErrInvalidResetToken)
						continue
					}
					sessions, err := s.ListSessions(ctx, u.ID)
					require.NoError(t, err)
					assert.Empty(t, sessions, "draw %d: a session outlived the reset", after)
					if session != "" {
						_, _, err = s.SessionUser(ctx, session)
						assert.ErrorIs(t, err, auth.ErrInvalidSession, "draw %d", after)
					}
					if refresh != "" {
						_, err = s.RefreshTokens(ctx, refresh)
						assert.Equal(t, auth.ErrInvalidRefreshToken, err, "draw %d", after)
					}
				}
			})
		})
	}
}
