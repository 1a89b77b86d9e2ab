package auth

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/testdb"
)

// withoutDatabase makes every query outside a transaction fail until the
// function it returns is called: a lookup that still succeeds read no
// database.
func withoutDatabase(t *testing.T, s *Store) (restore func()) {
	t.Helper()
	closed, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	q := s.q
	s.q = db.New(closed)
	return func() { s.q = q }
}

// TestSessionCacheReadsNoDatabase: a session looked up once, by session
// token or by access token, is answered from the cache; a change made
// through the store makes the next lookup read the database again.
func TestSessionCacheReadsNoDatabase(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, err := Open(ctx, dsn, Config{
			BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
			SecretKeys: &Keyring{Current: "k", Keys: map[string][]byte{"k": make([]byte, 32)}},
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		u, err := s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "Secret-alice-42"})
		require.NoError(t, err)
		_, sess, err := s.LoginSession(ctx, "alice", "Secret-alice-42")
		require.NoError(t, err)
		tok, err := s.IssueTokens(ctx, LoginAttempt{Identifier: "alice", Password: "Secret-alice-42"})
		require.NoError(t, err)

		// Look both up until they stay remembered: on PostgreSQL the
		// notifications of the writes above arrive after them, and each
		// one empties the cache.
		sum, _ := tokenSum(sess.Token)
		claims, err := s.VerifyAccessToken(ctx, tok.AccessToken, VerifyOptions{})
		require.NoError(t, err)
		var got User
		require.Eventually(t, func() bool {
			g := s.cache.generation()
			got, _, err = s.SessionUser(ctx, sess.Token)
			require.NoError(t, err)
			_, _, _, err = s.AccessTokenUser(ctx, tok.AccessToken)
			require.NoError(t, err)
			time.Sleep(2 * s.cfg.SessionCacheMaxStale)
			_, ok1 := s.cache.get(ctx, cacheKey{sum: sum})
			_, ok2 := s.cache.get(ctx, cacheKey{id: claims.SessionID})
			return ok1 && ok2 && s.cache.generation() == g
		}, testdb.Patience, time.Millisecond)

		restore := withoutDatabase(t, s)
		got2, gotSess, tf, err := s.SessionProfile(ctx, sess.Token)
		require.NoError(t, err, "a remembered session reads no database")
		assert.Equal(t, got, got2)
		assert.Equal(t, sess.ID, gotSess.ID)
		assert.Empty(t, gotSess.Token, "the cache keeps no token")
		assert.Equal(t, TwoFactorStatus{}, tf)
		au, _, _, err := s.AccessTokenUser(ctx, tok.AccessToken)
		require.NoError(t, err, "a remembered access token's session reads no database")
		assert.Equal(t, u.ID, au.ID)

		// A write through the store empties the cache: the next lookup
		// reads the database, and here finds it gone.
		s.cache.changed()
		_, _, err = s.SessionUser(ctx, sess.Token)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrInvalidSession, "it read the database")
		restore()
		_, _, err = s.SessionUser(ctx, sess.Token)
		require.NoError(t, err)
	})
}

// TestSessionCacheDropsWhatRacedAChange puts a change exactly between the
// start of a lookup's database read and the moment it stores what it read:
// what it read may predate the change, so it must not be remembered.
func TestSessionCacheDropsWhatRacedAChange(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openInternal(t, dsn)
		_, err := s.Register(ctx, Registration{Username: "bob", Email: "bob@example.com", Password: "Secret-bob-42"})
		require.NoError(t, err)
		_, sess, err := s.LoginSession(ctx, "bob", "Secret-bob-42")
		require.NoError(t, err)
		sum, _ := tokenSum(sess.Token)
		key := cacheKey{sum: sum}

		g := s.cache.generation()
		p := sessionProfile{user: User{ID: 1}, sess: Session{ID: sess.ID}}
		s.cache.changed() // a commit between the read and the store
		s.cache.put(key, p, g)
		_, ok := s.cache.get(ctx, key)
		assert.False(t, ok, "a read that raced a change is not remembered")

		// Remembered, once nothing else intervenes: on PostgreSQL the
		// notifications of this test's own commits (and of other tests on
		// the server) arrive when they arrive, and between the watcher's
		// confirmations the cache answers nothing.
		require.Eventually(t, func() bool {
			s.cache.put(key, p, s.cache.generation())
			_, ok := s.cache.get(ctx, key)
			return ok
		}, testdb.Patience, time.Millisecond)
		s.cache.changed()
		_, ok = s.cache.get(ctx, key)
		assert.False(t, ok, "a change forgets what was remembered")
	})
}

// TestSessionCacheBounded: the cache holds at most SessionCacheSize
// entries.
func TestSessionCacheBounded(t *testing.T) {
	ctx := context.Background()
	s, err := OpenMemory(ctx, Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SessionCacheSize: 3})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	g := s.cache.generation()
	for i := range 10 {
		s.cache.put(cacheKey{id: int64(i + 1)}, sessionProfile{}, g)
		assert.LessOrEqual(t, len(s.cache.entries), 3)
	}
	_, ok := s.cache.get(ctx, cacheKey{id: 10})
	assert.True(t, ok, "the last one stored is there")
}

// TestSessionCacheOff: a negative size turns the cache off.
func TestSessionCacheOff(t *testing.T) {
	ctx := context.Background()
	s, err := OpenMemory(ctx, Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SessionCacheSize: -1})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.Nil(t, s.cache)
	_, err = s.Register(ctx, Registration{Username: "carol", Email: "carol@example.com", Password: "Secret-carol-42"})
	require.NoError(t, err)
	_, sess, err := s.LoginSession(ctx, "carol", "Secret-carol-42")
	require.NoError(t, err)
	_, _, err = s.SessionUser(ctx, sess.Token)
	require.NoError(t, err)
	restore := withoutDatabase(t, s)
	defer restore()
	_, _, err = s.SessionUser(ctx, sess.Token)
	require.Error(t, err, "without the cache every lookup reads the database")
}
