package auth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// cacheStale is the SessionCacheMaxStale of these tests, short so that
// they wait little; waiting past it is what the bound promises, however
// slow the machine (a late confirmation only makes the store read the
// database).
const cacheStale = 50 * time.Millisecond

func withCacheStale(c *auth.Config) {
	c.SessionCacheMaxStale = cacheStale
	c.SecretKeys = &auth.Keyring{Current: "k", Keys: map[string][]byte{"k": make([]byte, 32)}}
}

// cachedSession registers name, logs in for a session and an access token,
// and looks both up once so that s remembers them.
func cachedSession(t *testing.T, s *auth.Store, name string) (auth.User, auth.Session, auth.TokenResult) {
	t.Helper()
	ctx := context.Background()
	u := mustRegister(t, s, reg(name))
	sess := mustLogin(t, s, name)
	tok, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: name, Password: pw(name)})
	require.NoError(t, err)
	_, _, err = s.SessionUser(ctx, sess.Token)
	require.NoError(t, err)
	_, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
	require.NoError(t, err)
	return u, sess, tok
}

// assertEnded asserts that neither sess's token nor its access token tok
// is accepted any more.
func assertEnded(t *testing.T, s *auth.Store, sess auth.Session, tok auth.TokenResult, msg string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := s.SessionUser(ctx, sess.Token)
	assert.ErrorIs(t, err, auth.ErrInvalidSession, msg)
	_, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, msg+", by access token")
}

// TestSessionCacheOwnChanges: what the store changes itself is seen by the
// very next lookup, cached or not, by session token and by access token.
func TestSessionCacheOwnChanges(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withCacheStale)

		u, sess, tok := cachedSession(t, s, "alice")
		_, err := s.UpdateUser(ctx, u.ID, auth.UserUpdate{IsAdmin: ptr(true), Username: ptr("alice2")})
		require.NoError(t, err)
		got, _, err := s.SessionUser(ctx, sess.Token)
		require.NoError(t, err)
		assert.True(t, got.IsAdmin, "granted at once")
		assert.Equal(t, "alice2", got.Username)
		got, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
		require.NoError(t, err)
		assert.True(t, got.IsAdmin, "granted at once, by access token")

		_, err = s.UpdateUser(ctx, u.ID, auth.UserUpdate{IsAdmin: ptr(false)})
		require.NoError(t, err)
		got, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
		require.NoError(t, err)
		assert.False(t, got.IsAdmin, "revoked at once")

		_, err = s.RevokeSessions(ctx, u.ID)
		require.NoError(t, err)
		assertEnded(t, s, sess, tok, "revoked at once")

		b, bsess, btok := cachedSession(t, s, "bob")
		require.NoError(t, s.DeleteUser(ctx, b.ID))
		assertEnded(t, s, bsess, btok, "deleted at once")

		_, csess, _ := cachedSession(t, s, "carol")
		require.NoError(t, s.DestroySession(ctx, csess.Token))
		_, _, err = s.SessionUser(ctx, csess.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "logged out at once")
	})
}

// TestSessionCacheOthersChanges: what another store, a statement outside
// credstore, or an application's transaction commits is seen within
// SessionCacheMaxStale.
func TestSessionCacheOthersChanges(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withCacheStale)
		other := newStore(t, dsn, withCacheStale)
		raw := testdb.Raw(t, dsn)

		// Another store (the admin command line, another instance).
		u, sess, tok := cachedSession(t, s, "dave")
		_, err := other.UpdateUser(ctx, u.ID, auth.UserUpdate{IsAdmin: ptr(true)})
		require.NoError(t, err)
		time.Sleep(2 * cacheStale)
		got, _, err := s.SessionUser(ctx, sess.Token)
		require.NoError(t, err)
		assert.True(t, got.IsAdmin, "another store's grant is seen")
		_, err = other.RevokeSessions(ctx, u.ID)
		require.NoError(t, err)
		time.Sleep(2 * cacheStale)
		assertEnded(t, s, sess, tok, "another store's revocation is seen")

		// Plain SQL, from no store at all.
		e, sess, tok := cachedSession(t, s, "erin")
		_, err = raw.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", e.ID)
		require.NoError(t, err)
		time.Sleep(2 * cacheStale)
		assertEnded(t, s, sess, tok, "a deletion in SQL is seen")

		// An application's transaction that commits after credstore's
		// part of it.
		f, sess, _ := cachedSession(t, s, "frank")
		tx, err := raw.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, s.WithTx(tx).DeleteUser(ctx, f.ID))
		_, _, err = s.SessionUser(ctx, sess.Token) // read before the commit: still there
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		time.Sleep(2 * cacheStale)
		_, _, err = s.SessionUser(ctx, sess.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "the application's commit is seen")
	})
}

// TestSessionCacheConcurrentRevocation looks a session up from many
// goroutines while it is revoked: no lookup that began after the
// revocation returned may succeed, whatever the cache held. Each goroutine
// makes at least one lookup before the revocation and one after it, however
// the machine schedules them.
func TestSessionCacheConcurrentRevocation(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withCacheStale)
		for round := range 5 {
			name := "gina" + string(rune('a'+round))
			u, sess, tok := cachedSession(t, s, name)
			const workers = 4
			var revoked atomic.Bool
			var late atomic.Int64 // lookups begun after the revocation returned that succeeded
			var before, after, wg sync.WaitGroup
			before.Add(workers)
			after.Add(workers)
			stop := make(chan struct{})
			for i := range workers {
				wg.Go(func() {
					var sawBefore, sawAfter bool
					for {
						select {
						case <-stop:
							return
						default:
						}
						began := revoked.Load()
						var err error
						if i%2 == 0 {
							_, _, err = s.SessionUser(ctx, sess.Token)
						} else {
							_, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
						}
						if began && err == nil {
							late.Add(1)
						}
						if !began && !sawBefore {
							sawBefore = true
							before.Done()
						}
						if began && !sawAfter {
							sawAfter = true
							after.Done()
						}
					}
				})
			}
			before.Wait()
			_, err := s.RevokeSessions(ctx, u.ID)
			require.NoError(t, err)
			revoked.Store(true)
			after.Wait()
			close(stop)
			wg.Wait()
			assert.Zero(t, late.Load(), "lookups that began after the revocation succeeded")
		}
	})
}

// TestSessionCacheListenerLost ends the PostgreSQL connection that listens
// for changes, and changes a session while nobody listens: the store must
// not answer from what it remembered, and recovers. It waits for the
// listening connection to be made (and made again) rather than for time.
func TestSessionCacheListenerLost(t *testing.T) {
	dsn := testdb.DSN(t, database.Postgres)
	ctx := context.Background()
	s := newStore(t, dsn, withCacheStale)
	raw := testdb.Raw(t, dsn)
	_, sess, _ := cachedSession(t, s, "hank")

	listening := func(n int) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, testdb.Patience)
		defer cancel()
		require.NoError(t, auth.WaitCacheListening(wctx, s, n))
	}
	listening(1)
	listeners := func() []int {
		t.Helper()
		rows, err := raw.QueryContext(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'credstore session cache'`)
		require.NoError(t, err)
		defer rows.Close()
		var pids []int
		for rows.Next() {
			var pid int
			require.NoError(t, rows.Scan(&pid))
			pids = append(pids, pid)
		}
		require.NoError(t, rows.Err())
		return pids
	}
	first := listeners()
	require.Len(t, first, 1, "one listening connection")
	var ok bool
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT pg_terminate_backend(?)", first[0]).Scan(&ok))
	require.True(t, ok)
	_, err := raw.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", sess.ID)
	require.NoError(t, err)
	// Past the bound, whatever the watcher did meanwhile: either it is
	// listening again (and forgot everything when it was back) or the
	// cache reads the database.
	time.Sleep(2 * cacheStale)
	_, _, err = s.SessionUser(ctx, sess.Token)
	assert.ErrorIs(t, err, auth.ErrInvalidSession, "a change made while nobody listened is seen")

	// It listens again.
	listening(2)
	// The ended backend may still be on its way out.
	var again []int
	for _, pid := range listeners() {
		if pid != first[0] {
			again = append(again, pid)
		}
	}
	assert.Len(t, again, 1, "one new listening connection")
	_, sess, _ = cachedSession(t, s, "ivy")
	_, err = raw.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", sess.ID)
	require.NoError(t, err)
	time.Sleep(2 * cacheStale)
	_, _, err = s.SessionUser(ctx, sess.Token)
	assert.ErrorIs(t, err, auth.ErrInvalidSession)
}
