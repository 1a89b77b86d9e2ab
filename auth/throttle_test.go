package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// withDefaultThrottles gives the store the default throttle policies, which
// testConfig relaxes for the rest of the suite.
func withDefaultThrottles(c *auth.Config) {
	c.LoginThrottle, c.ResetThrottle = auth.DefaultLoginThrottle(), auth.DefaultResetThrottle()
}

// throttleModel is the policy as ThrottlePolicy's documentation states it,
// written out independently of the store: what the store must do to every
// attempt on one bucket.
type throttleModel struct {
	p                        auth.ThrottlePolicy
	failures, windowFailures int
	windowStart, lockedUntil time.Time
	loggedUntil              time.Time
	refusalsLogged           int
}

// attempt says whether an attempt at now is evaluated and, when it is not,
// when the next one will be. An evaluated attempt counts as a failure.
func (m *throttleModel) attempt(now time.Time) (evaluated bool, retryAt time.Time) {
	if now.Before(m.lockedUntil) {
		if m.loggedUntil.Before(m.lockedUntil) {
			m.loggedUntil = m.lockedUntil
			m.refusalsLogged++
		}
		return false, m.lockedUntil
	}
	m.failures++
	if m.windowFailures == 0 || !now.Before(m.windowStart.Add(24*time.Hour)) {
		m.windowStart, m.windowFailures = now, 0
	}
	m.windowFailures++
	m.lockedUntil = time.Time{}
	if k := m.failures - m.p.FreeFailures; k >= 0 {
		d := m.p.BaseDelay
		for range k {
			d *= 2
			if d >= m.p.MaxDelay {
				break
			}
		}
		m.lockedUntil = now.Add(min(d, m.p.MaxDelay))
	}
	if m.windowFailures >= m.p.DailyFailures {
		if end := m.windowStart.Add(24 * time.Hour); end.After(m.lockedUntil) {
			m.lockedUntil = end
		}
	}
	return true, time.Time{}
}

// storeTime is the clock's time as the store keeps it.
func storeTime(c *testdb.Clock) time.Time { return c.Now().UTC().Truncate(time.Microsecond) }

// TestThrottleThousandGuesses: 1,000 wrong passwords against one account,
// the clock advancing between them in steps from a second to ten minutes
// (37 hours in all). The store evaluates exactly the attempts the policy
// allows, never more than 100 in any 24 hours, tells the others when to come
// back, records each wait once in the audit trail, and lets the right
// password in once the wait is over.
func TestThrottleThousandGuesses(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))

		m := throttleModel{p: auth.DefaultLoginThrottle()}
		steps := []time.Duration{time.Second, 7 * time.Second, 61 * time.Second, 10 * time.Minute, 3 * time.Second}
		var evaluated []time.Time
		for i := range 1000 {
			now := storeTime(clk)
			_, err := s.Login(ctx, "alice", "wrong password")
			ok, retryAt := m.attempt(now)
			if ok {
				require.ErrorIs(t, err, auth.ErrInvalidCredentials, "attempt %d at %v", i, now)
				evaluated = append(evaluated, now)
			} else {
				var te *auth.ThrottledError
				require.ErrorAs(t, err, &te, "attempt %d at %v", i, now)
				require.ErrorIs(t, err, auth.ErrThrottled)
				require.NotErrorIs(t, err, auth.ErrInvalidCredentials, "a throttled attempt says nothing about the password")
				assert.True(t, te.RetryAt.Equal(retryAt), "attempt %d: retry at %v, want %v", i, te.RetryAt, retryAt)
				assert.GreaterOrEqual(t, te.RetryAfter, time.Second)
				assert.False(t, now.Add(te.RetryAfter).Before(te.RetryAt), "RetryAfter is never early")
			}
			clk.Advance(steps[i%len(steps)])
		}
		t.Logf("%d of 1000 guesses evaluated", len(evaluated))
		require.Greater(t, len(evaluated), 100, "the test spans more than a day")
		require.Less(t, len(evaluated), 200)
		for i, start := range evaluated {
			n := 0
			for _, e := range evaluated[i:] {
				if e.Sub(start) < 24*time.Hour {
					n++
				}
			}
			require.LessOrEqual(t, n, 100, "guesses in the 24 hours from %v", start)
		}

		events, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventLoginThrottled}, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		assert.Len(t, events, m.refusalsLogged, "one throttled event per wait")
		failed, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventLoginFailed}, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		assert.Len(t, failed, len(evaluated), "one failed event per evaluated guess")

		// The owner, with the right password, once the wait is over.
		_, err = s.Login(ctx, "alice", pw("alice"))
		if ok, retryAt := m.attempt(storeTime(clk)); !ok {
			require.ErrorIs(t, err, auth.ErrThrottled)
			clk.Set(retryAt)
			_, err = s.Login(ctx, "alice", pw("alice"))
		}
		require.NoError(t, err, "the right password works once the wait is over")
		// A success clears the account's bucket: five free failures again.
		for i := range 5 {
			_, err := s.Login(ctx, "alice", "wrong password")
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, "failure %d after the success", i+1)
		}
		_, err = s.Login(ctx, "alice", pw("alice"))
		require.ErrorIs(t, err, auth.ErrThrottled, "the sixth attempt waits a second")
	})
}

// reply is what a client learns of a failed login: the message, which for a
// throttled attempt says when to come back.
func reply(err error) string {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		return te.Error()
	}
	return err.Error()
}

// TestThrottleUnknownIdentifier: an identifier that names no account gets
// the same sequence of replies as one that does, by username and by email,
// so the throttle reveals nothing about which accounts exist.
func TestThrottleUnknownIdentifier(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))
		mustRegister(t, s, reg("bob"))
		// A username and an email of one account share its bucket; the pairs
		// use two accounts so that each known identifier has a bucket of its
		// own, like the unknown one beside it.
		pairs := [][2]string{{"alice", "nobody"}, {"Bob@Example.com", "nobody@example.com"}}
		steps := []time.Duration{0, 300 * time.Millisecond, time.Second, 3 * time.Second, 20 * time.Second}
		for i := range 60 {
			for _, p := range pairs {
				_, known := s.Login(ctx, p[0], "wrong password")
				_, unknown := s.Login(ctx, p[1], "wrong password")
				require.Error(t, known)
				require.Equal(t, reply(known), reply(unknown), "attempt %d: %s and %s", i, p[0], p[1])
			}
			clk.Advance(steps[i%len(steps)])
		}
		// The address's forms are one bucket, as they are one account.
		_, err := s.Login(ctx, "NOBODY@example.com", "wrong password")
		_, err2 := s.Login(ctx, "BOB@example.com", "wrong password")
		assert.Equal(t, reply(err2), reply(err))
		assert.ErrorIs(t, err, auth.ErrThrottled)
	})
}

// TestThrottleDoesNotLinkIdentifiers: failures by an account's username
// make its address answer exactly as an address of no account, or of
// another account, answers: the account's shared bucket must not tell an
// attacker which address belongs to the username. It still bounds the
// guesses at the password: while it waits, not even the right password is
// evaluated, by either identifier.
func TestThrottleDoesNotLinkIdentifiers(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("lnkuser"))
		mustRegister(t, s, reg("other"))
		for i := range 6 {
			_, err := s.Login(ctx, "lnkuser", "wrong password")
			require.Error(t, err, "failure %d", i+1)
		}
		_, err := s.Login(ctx, "lnkuser", "wrong password")
		require.ErrorIs(t, err, auth.ErrThrottled, "the username's own bucket waits")

		// The linked address, another account's and no account's: the same
		// replies, attempt after attempt, until each waits in its turn.
		// The first attempt at the linked address has the right password:
		// while the account's bucket waits, the password is not evaluated
		// through the address either.
		addrs := []string{"LnkUser@Example.com", "other@example.com", "nobody@example.com"}
		steps := []time.Duration{0, 300 * time.Millisecond, time.Second}
		for i := range 12 {
			var replies []string
			for j, a := range addrs {
				password := "wrong password"
				if i == 0 && j == 0 {
					password = pw("lnkuser")
				}
				_, err := s.Login(ctx, a, password)
				require.Error(t, err, "attempt %d at %s", i, a)
				replies = append(replies, reply(err))
			}
			require.Equal(t, replies[2], replies[0], "attempt %d: the linked address", i)
			require.Equal(t, replies[2], replies[1], "attempt %d: another account's address", i)
			clk.Advance(steps[i%len(steps)])
		}

		clk.Advance(time.Hour) // every wait above is over
		_, err = s.Login(ctx, "lnkuser@example.com", pw("lnkuser"))
		require.NoError(t, err, "the right password works once the account's wait is over")
		_, err = s.Login(ctx, "lnkuser", pw("lnkuser"))
		require.NoError(t, err)

		reasons := map[string]int{}
		failed, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventLoginFailed}, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		for _, e := range failed {
			var d struct{ Reason string }
			require.NoError(t, json.Unmarshal(e.Detail, &d))
			reasons[d.Reason]++
		}
		assert.Positive(t, reasons["account_throttled"], "the trail says why the address's attempts failed: %v", reasons)
	})
}

// TestThrottleSharedBetweenStores: two stores on one database (two
// instances of a service) count one account's failures together.
func TestThrottleSharedBetweenStores(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		a := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		b := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, a, reg("alice"))
		for i, s := range []*auth.Store{a, b, a, b, a} {
			_, err := s.Login(ctx, "alice", "wrong password")
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, "failure %d", i+1)
		}
		_, err := b.Login(ctx, "alice", pw("alice"))
		require.ErrorIs(t, err, auth.ErrThrottled, "the other store knows of the five failures")
		clk.Advance(time.Second)
		_, err = b.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		_, err = a.Login(ctx, "alice", "wrong password")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "the success on one store cleared the bucket for both")
	})
}

// TestThrottleDeviceOwner: an attacker who exhausts the account's bucket
// does not lock out its owner on a browser that has logged in before.
func TestThrottleDeviceOwner(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))
		mustRegister(t, s, reg("bob"))
		owner := auth.LoginAttempt{Identifier: "alice@example.com", Password: pw("alice")}
		first, err := s.LoginWithDevice(ctx, owner)
		require.NoError(t, err)
		require.NotEmpty(t, first.DeviceToken, "a first login hands out a device token")
		assert.True(t, first.DeviceExpiresAt.Equal(storeTime(clk).Add(auth.DefaultDeviceLifetime)))
		bobs, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err)

		// The attacker: no device token, or a made-up one, or bob's, or one
		// that differs from the owner's in its last character.
		near := first.DeviceToken[:42] + "A"
		if near == first.DeviceToken {
			near = first.DeviceToken[:42] + "B"
		}
		for _, token := range []string{"", "not-a-token", bobs.DeviceToken, near} {
			for range 20 {
				_, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: "guess", DeviceToken: token})
				require.Error(t, err)
			}
		}
		_, err = s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		require.ErrorIs(t, err, auth.ErrThrottled, "without the device token the owner waits like anyone")
		_, err = s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice"), DeviceToken: bobs.DeviceToken})
		require.ErrorIs(t, err, auth.ErrThrottled, "another account's device token counts for nothing")

		clk.Advance(500 * time.Millisecond) // the attacker's bucket waits a second
		owner.DeviceToken = first.DeviceToken
		again, err := s.LoginWithDevice(ctx, owner)
		require.NoError(t, err, "the owner's browser logs in while the attacker waits")
		assert.Equal(t, first.DeviceToken, again.DeviceToken, "a known device keeps its token")
		assert.True(t, again.DeviceExpiresAt.After(first.DeviceExpiresAt), "and its lifetime is renewed")
		_, err = s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		require.ErrorIs(t, err, auth.ErrThrottled, "the owner's success does not clear the attacker's bucket")

		// A device token has a bucket of its own, with the same policy.
		for range 5 {
			_, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: "guess", DeviceToken: first.DeviceToken})
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		}
		_, err = s.LoginWithDevice(ctx, owner)
		require.ErrorIs(t, err, auth.ErrThrottled)

		// Past its lifetime, a device token is just another attempt.
		clk.Advance(auth.DefaultDeviceLifetime + time.Hour)
		late, err := s.LoginWithDevice(ctx, owner)
		require.NoError(t, err)
		assert.NotEqual(t, first.DeviceToken, late.DeviceToken, "an expired device token is replaced")
	})
}

// TestThrottleConcurrentGuesses: of many guesses at one account at the same
// moment, exactly as many are evaluated as the policy allows.
func TestThrottleConcurrentGuesses(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0) // stands still: every guess is at one moment
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))
		for _, identifier := range []string{"alice", "nobody"} {
			var (
				mu        sync.Mutex
				evaluated int
				throttled int
				wg        sync.WaitGroup
			)
			start := make(chan struct{})
			for range 40 {
				wg.Go(func() {
					<-start
					_, err := s.Login(ctx, identifier, "wrong password")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, auth.ErrInvalidCredentials):
						evaluated++
					case errors.Is(err, auth.ErrThrottled):
						throttled++
					default:
						t.Errorf("%s: %v", identifier, err)
					}
				})
			}
			close(start)
			wg.Wait()
			assert.Equal(t, auth.DefaultLoginThrottle().FreeFailures, evaluated, "%s: guesses evaluated", identifier)
			assert.Equal(t, 40-evaluated, throttled, identifier)
		}
	})
}

// TestThrottleChangePassword: wrong current passwords are throttled per
// user, apart from logins, and a throttled attempt with the right password
// changes nothing.
func TestThrottleChangePassword(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		u := mustRegister(t, s, reg("alice"))
		for range 5 {
			require.ErrorIs(t, s.ChangePassword(ctx, u.ID, "wrong password", "new-password-1"), auth.ErrInvalidCredentials)
		}
		err := s.ChangePassword(ctx, u.ID, pw("alice"), "new-password-1")
		require.ErrorIs(t, err, auth.ErrThrottled)
		_, err = s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err, "the password did not change, and logins have a bucket of their own")
		clk.Advance(time.Second)
		require.NoError(t, s.ChangePassword(ctx, u.ID, pw("alice"), "new-password-1"))
		_, err = s.Login(ctx, "alice", "new-password-1")
		require.NoError(t, err)
	})
}

// TestThrottleChangePasswordPerSession: wrong current passwords sent from
// one session (a thief's, stolen) throttle that session, not the owner's:
// the owner, in a session of their own, changes the password with the right
// one at once; the thief's session stays throttled.
func TestThrottleChangePasswordPerSession(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		u := mustRegister(t, s, reg("alice"))
		in := func(sess auth.Session) context.Context {
			return auth.WithActor(ctx, auth.Actor{Kind: auth.ActorUser, UserID: u.ID, SessionID: sess.ID})
		}
		stolen, err := s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		own, err := s.CreateSession(ctx, u.ID)
		require.NoError(t, err)
		for range auth.DefaultLoginThrottle().FreeFailures + 1 {
			err := s.ChangePassword(in(stolen), u.ID, "a guess", "thief-password-1")
			require.True(t, errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrThrottled), "%v", err)
		}
		require.ErrorIs(t, s.ChangePassword(in(stolen), u.ID, pw("alice"), "thief-password-1"), auth.ErrThrottled,
			"the session that guessed waits, even with the right password")
		require.NoError(t, s.ChangePassword(in(own), u.ID, pw("alice"), "new-password-1"),
			"the owner's session is not held back by the thief's guesses")
		_, err = s.Login(ctx, "alice", "new-password-1")
		require.NoError(t, err)
	})
}

// TestThrottleResetRequests: reset requests count per account, for
// addresses without an account too, so nobody can flood a mailbox.
func TestThrottleResetRequests(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))
		p := auth.DefaultResetThrottle()
		for i := range p.FreeFailures {
			_, err := s.RequestPasswordReset(ctx, "alice@example.com")
			require.NoError(t, err, "request %d", i+1)
			_, err = s.RequestPasswordReset(ctx, "nobody@example.com")
			require.ErrorIs(t, err, auth.ErrNotFound)
		}
		for _, email := range []string{"ALICE@example.com", "nobody@EXAMPLE.com"} {
			_, err := s.RequestPasswordReset(ctx, email)
			var te *auth.ThrottledError
			require.ErrorAs(t, err, &te, email)
			assert.Equal(t, p.BaseDelay, te.RetryAfter, email)
		}
		clk.Advance(p.BaseDelay)
		r, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
		_, err = s.RequestPasswordReset(ctx, "alice@example.com")
		require.ErrorIs(t, err, auth.ErrThrottled, "then two minutes")
		// Using the token proves control of the address: both of the
		// account's buckets start again.
		require.NoError(t, s.ResetPassword(ctx, "alice@example.com", r.Token, "new-password-1"))
		_, err = s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
	})
}

// TestThrottlePurge: PurgeExpired forgets buckets that have counted nothing
// for a day and no longer wait, and device tokens past their lifetime.
func TestThrottlePurge(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), withDefaultThrottles)
		mustRegister(t, s, reg("alice"))
		_, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		require.NoError(t, err)
		for range 20 {
			_, _ = s.Login(ctx, "nobody", "guess")
			_, _ = s.Login(ctx, "alice", "guess")
		}
		c, err := s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Zero(t, c.Throttles, "buckets in use are kept")
		assert.Zero(t, c.Devices)

		clk.Advance(auth.ThrottleWindow + time.Hour)
		c, err = s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 3, c.Throttles, "alice's account and username buckets, and nobody's")
		assert.Zero(t, c.Devices)
		_, err = s.Login(ctx, "nobody", "guess")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "a forgotten bucket starts again")

		clk.Advance(auth.DefaultDeviceLifetime)
		c, err = s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, c.Devices)
	})
}
