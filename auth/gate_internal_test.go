package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

func TestHashGate(t *testing.T) {
	t.Parallel()
	g := newHashGate(1, 1)
	ctx := context.Background()

	leave, err := g.enter(ctx)
	require.NoError(t, err, "the first caller runs")

	queued := make(chan error, 1)
	go func() {
		l, err := g.enter(ctx)
		if err == nil {
			l()
		}
		queued <- err
	}()
	// Wait until the second caller sits in the queue.
	require.Eventually(t, func() bool { return len(g.waiting) == 1 }, testdb.Patience, time.Millisecond)

	_, err = g.enter(ctx)
	assert.ErrorIs(t, err, ErrOverloaded, "a third caller is refused at once: one running, one queued")

	leave()
	require.NoError(t, <-queued, "the queued caller runs once the first leaves")

	// A caller whose context ends while it waits gives up with that error.
	leave, err = g.enter(ctx)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := g.enter(cctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return len(g.waiting) == 1 }, testdb.Patience, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Len(t, g.waiting, 0, "it left the queue")
	leave()

	// A context already ended never enters.
	_, err = g.enter(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestOverloadedWritesNothing fills the store's hash gate by hand, so that
// every call that needs bcrypt is refused, and checks that each refusal is
// ErrOverloaded and leaves nothing behind.
func TestOverloadedWritesNothing(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s, err := Open(ctx, dsn, Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
			MaxConcurrentHashes: 1, MaxQueuedHashes: -1})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		u, err := s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		reset, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)

		s.gate.running <- struct{}{} // the one turn is taken
		_, err = s.Register(ctx, Registration{Username: "bob", Email: "bob@example.com", Password: "password-b"})
		assert.ErrorIs(t, err, ErrOverloaded, "register")
		_, err = s.Login(ctx, "alice", "password-a")
		assert.ErrorIs(t, err, ErrOverloaded, "login")
		assert.NotErrorIs(t, err, ErrInvalidCredentials, "an overloaded login is not a failed one")
		assert.ErrorIs(t, s.ChangePassword(ctx, u.ID, "password-a", "password-n"), ErrOverloaded, "change password")
		assert.ErrorIs(t, s.SetPassword(ctx, u.ID, "password-n"), ErrOverloaded, "set password")
		assert.ErrorIs(t, s.ResetPassword(ctx, "alice@example.com", reset.Token, "password-n"), ErrOverloaded, "reset")
		<-s.gate.running

		_, err = s.UserByEmail(ctx, "bob@example.com")
		assert.ErrorIs(t, err, ErrNotFound, "the refused registration wrote nothing")
		_, err = s.Login(ctx, "alice", "password-a")
		assert.NoError(t, err, "the password is unchanged")
		assert.NoError(t, s.ResetPassword(ctx, "alice@example.com", reset.Token, "password-n"), "the reset token was not spent")
	})
}

// TestThrottledLoginSkipsTheGate: a login refused by the throttle never
// queues for bcrypt. With the hash gate full, a throttled login still gets
// ErrThrottled at once; a login that is not throttled gets ErrOverloaded.
func TestThrottledLoginSkipsTheGate(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		frozen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s, err := Open(ctx, dsn, Config{
			BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
			MaxConcurrentHashes: 1, MaxQueuedHashes: -1, Now: func() time.Time { return frozen },
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		_, err = s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		for range DefaultLoginThrottle().FreeFailures {
			_, err := s.Login(ctx, "alice", "wrong password")
			require.ErrorIs(t, err, ErrInvalidCredentials)
		}

		leave, err := s.gate.enter(ctx) // every turn taken, no queue
		require.NoError(t, err)
		defer leave()
		_, err = s.Login(ctx, "alice", "password-a")
		assert.ErrorIs(t, err, ErrThrottled, "refused before the gate")
		_, err = s.Login(ctx, "nobody-else", "password-a")
		assert.ErrorIs(t, err, ErrOverloaded, "an attempt that is not throttled needs the gate")
	})
}
