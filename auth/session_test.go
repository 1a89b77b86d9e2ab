package auth_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		alice := mustRegister(t, s, reg("alice"))

		u, first, err := s.LoginSession(ctx, "ALICE@example.com", pw("alice"))
		require.NoError(t, err)
		assert.Equal(t, alice.ID, u.ID)
		assert.Len(t, first.Token, 43, "256 bits in unpadded base64url")
		assert.Equal(t, alice.ID, first.UserID)
		now := t0.UTC().Truncate(time.Microsecond)
		assert.Equal(t, now, first.CreatedAt)
		assert.Equal(t, now, first.LastSeenAt)
		assert.Equal(t, now.Add(auth.DefaultSessionLifetime), first.ExpiresAt)

		second := mustLogin(t, s, "alice")
		assert.NotEqual(t, first.Token, second.Token, "every login gets a new token")
		assert.NotEqual(t, first.ID, second.ID)

		got, sess, err := s.SessionUser(ctx, first.Token)
		require.NoError(t, err)
		assert.Equal(t, alice, got)
		assert.Equal(t, first.ID, sess.ID)
		assert.Empty(t, sess.Token, "a looked-up session has no token: it is not stored")

		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, []int64{first.ID, second.ID}, []int64{list[0].ID, list[1].ID})

		require.NoError(t, s.DestroySession(ctx, first.Token))
		_, _, err = s.SessionUser(ctx, first.Token)
		assert.Equal(t, auth.ErrInvalidSession, err)
		assert.Equal(t, auth.ErrInvalidSession, s.DestroySession(ctx, first.Token), "logging out twice")
		_, _, err = s.SessionUser(ctx, second.Token)
		assert.NoError(t, err, "the other session lives on")
	})
}

func TestSessionUserRefusesBadTokens(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		s := newStore(t, dsn)
		mustRegister(t, s, reg("alice"))
		good := mustLogin(t, s, "alice").Token
		flip := []byte(good)
		flip[10] ^= 'A' ^ 'B'
		if flip[10] == good[10] {
			flip[10] = 'x'
		}
		cases := []struct{ name, token string }{
			{"empty", ""},
			{"garbage", "not a token"},
			{"too short", good[:42]},
			{"too long", good + "A"},
			{"one character changed", string(flip)},
			{"unknown but well formed", base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
			{"standard base64 alphabet", strings.Repeat("+", 43)},
			{"non-canonical last character", good[:42] + nonCanonical(good[42])},
			{"hash instead of token", sha256Hex(good)},
			{"sql", "' OR 1=1 --"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := s.SessionUser(context.Background(), tc.token)
				assert.Equal(t, auth.ErrInvalidSession, err)
				assert.Equal(t, auth.ErrInvalidSession, s.DestroySession(context.Background(), tc.token))
			})
		}
		_, _, err := s.SessionUser(context.Background(), good)
		assert.NoError(t, err, "the real token still works")
	})
}

// nonCanonical returns another spelling of the last character of a 43-character
// base64url token: one that sets the 2 padding bits a decoder would drop.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i|1])
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) {
			c.SessionLifetime = 2 * time.Hour
			c.SessionIdleTimeout = 30 * time.Minute
		})
		mustRegister(t, s, reg("alice"))

		t.Run("absolute lifetime ends an active session", func(t *testing.T) {
			sess := mustLogin(t, s, "alice")
			// Used every 20 minutes, it never idles out...
			for range 5 {
				clk.Advance(20 * time.Minute)
				_, _, err := s.SessionUser(ctx, sess.Token)
				require.NoError(t, err)
			}
			clk.Advance(19*time.Minute + 59*time.Second) // 1h59m59s after login
			_, _, err := s.SessionUser(ctx, sess.Token)
			require.NoError(t, err)
			// ...but it ends two hours after login.
			clk.Advance(time.Second)
			_, _, err = s.SessionUser(ctx, sess.Token)
			assert.Equal(t, auth.ErrInvalidSession, err)
			assert.Equal(t, auth.ErrInvalidSession, s.DestroySession(ctx, sess.Token), "logout of an expired session")
		})

		t.Run("idle timeout ends an unused session", func(t *testing.T) {
			sess := mustLogin(t, s, "alice")
			clk.Advance(29*time.Minute + 59*time.Second)
			_, got, err := s.SessionUser(ctx, sess.Token)
			require.NoError(t, err, "used just before the idle timeout")
			assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond), got.LastSeenAt, "the use was recorded")
			clk.Advance(29*time.Minute + 59*time.Second)
			_, _, err = s.SessionUser(ctx, sess.Token)
			require.NoError(t, err, "the recorded use restarted the idle timer")
			clk.Advance(30 * time.Minute)
			_, _, err = s.SessionUser(ctx, sess.Token)
			assert.Equal(t, auth.ErrInvalidSession, err)
		})
	})
}

// TestSessionTouchWritesAtMostOncePerMinute reads last_seen_at straight from
// the database to prove that validating a session is a read, and that the
// idle bookkeeping writes at most once per SessionTouchInterval, even when
// many requests race.
func TestSessionTouchWritesAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		raw := testdb.Raw(t, dsn)
		mustRegister(t, s, reg("alice"))
		sess := mustLogin(t, s, "alice")
		login := sess.CreatedAt

		lastSeen := func() time.Time {
			t.Helper()
			var ts time.Time
			require.NoError(t, raw.QueryRowContext(ctx, "SELECT last_seen_at FROM sessions WHERE id = ?", sess.ID).Scan(&ts))
			return ts.UTC()
		}
		use := func(n int) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					_, _, err := s.SessionUser(ctx, sess.Token)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		}

		clk.Advance(30 * time.Second)
		use(20)
		assert.Equal(t, login, lastSeen(), "30s after login: no write")
		clk.Advance(29*time.Second + 999*time.Millisecond)
		use(20)
		assert.Equal(t, login, lastSeen(), "just under a minute: no write")

		clk.Advance(time.Millisecond) // exactly one minute
		minute := clk.Now().UTC().Truncate(time.Microsecond)
		use(20)
		assert.Equal(t, minute, lastSeen(), "one minute: written once")

		clk.Advance(59 * time.Second)
		use(20)
		assert.Equal(t, minute, lastSeen(), "59s after the write: no write")
		clk.Advance(time.Second)
		use(20)
		assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond), lastSeen(), "a minute after the write: written")
	})
}

func TestRevokeSessions(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		a1, a2, a3 := mustLogin(t, s, "alice"), mustLogin(t, s, "alice"), mustLogin(t, s, "alice")
		b1 := mustLogin(t, s, "bob")

		assert.ErrorIs(t, s.RevokeSession(ctx, bob.ID, a1.ID), auth.ErrSessionNotFound, "bob cannot revoke alice's session")
		assert.ErrorIs(t, s.RevokeSession(ctx, alice.ID, 1<<40), auth.ErrSessionNotFound)
		require.NoError(t, s.RevokeSession(ctx, alice.ID, a1.ID))
		assert.ErrorIs(t, s.RevokeSession(ctx, alice.ID, a1.ID), auth.ErrSessionNotFound, "revoked twice")
		_, _, err := s.SessionUser(ctx, a1.Token)
		assert.Equal(t, auth.ErrInvalidSession, err)

		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Equal(t, []int64{a2.ID, a3.ID}, sessionIDs(list))

		n, err := s.RevokeSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		for _, sess := range []auth.Session{a2, a3} {
			_, _, err := s.SessionUser(ctx, sess.Token)
			assert.Equal(t, auth.ErrInvalidSession, err)
		}
		list, err = s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, list)
		_, _, err = s.SessionUser(ctx, b1.Token)
		assert.NoError(t, err, "bob's session is untouched")
	})
}

func sessionIDs(list []auth.Session) []int64 {
	ids := make([]int64, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

func TestPasswordChangesEndSessions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(s *auth.Store, u auth.User) error
	}{
		{"ChangePassword", func(s *auth.Store, u auth.User) error {
			return s.ChangePassword(context.Background(), u.ID, pw("alice"), "a-new-password")
		}},
		{"SetPassword", func(s *auth.Store, u auth.User) error {
			return s.SetPassword(context.Background(), u.ID, "a-new-password")
		}},
		{"DeleteUser", func(s *auth.Store, u auth.User) error {
			return s.DeleteUser(context.Background(), u.ID)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				s := newStore(t, dsn)
				alice := mustRegister(t, s, reg("alice"))
				mustRegister(t, s, reg("bob"))
				a1, a2 := mustLogin(t, s, "alice"), mustLogin(t, s, "alice")
				b := mustLogin(t, s, "bob")

				require.NoError(t, tc.change(s, alice))
				for _, sess := range []auth.Session{a1, a2} {
					_, _, err := s.SessionUser(context.Background(), sess.Token)
					assert.Equal(t, auth.ErrInvalidSession, err)
				}
				var n int
				require.NoError(t, testdb.Raw(t, dsn).QueryRow("SELECT COUNT(*) FROM sessions WHERE user_id = ?", alice.ID).Scan(&n))
				assert.Zero(t, n, "no session row is left")
				_, _, err := s.SessionUser(context.Background(), b.Token)
				assert.NoError(t, err, "other users keep their sessions")
			})
		})
	}
}

func TestCreateSessionUnknownUser(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		s := newStore(t, dsn)
		_, err := s.CreateSession(context.Background(), 42)
		assert.ErrorIs(t, err, auth.ErrNotFound)
		_, _, err = s.LoginSession(context.Background(), "nobody@example.com", "whatever-password")
		assert.Equal(t, auth.ErrInvalidCredentials, err)
	})
}

func TestPurgeExpired(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) {
			c.SessionLifetime = 3 * time.Hour
			c.SessionIdleTimeout = time.Hour
		})
		mustRegister(t, s, reg("alice"))
		mustRegister(t, s, reg("bob"))
		old := mustLogin(t, s, "alice") // will pass its absolute lifetime
		idle := mustLogin(t, s, "bob")  // will idle out
		_, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
		for range 4 { // keep old active: only its lifetime will end it
			clk.Advance(40 * time.Minute)
			_, _, err := s.SessionUser(ctx, old.Token)
			require.NoError(t, err)
		}
		fresh := mustLogin(t, s, "bob")
		clk.Advance(40 * time.Minute) // 3h20m after the first logins

		purged, err := s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), purged.Sessions)
		assert.Equal(t, int64(1), purged.Resets)
		var ids []int64
		rows, err := testdb.Raw(t, dsn).Query("SELECT id FROM sessions ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []int64{fresh.ID}, ids, "sessions %d (lifetime) and %d (idle) are gone", old.ID, idle.ID)
	})
}

// TestTokensStoredOnlyAsHashes proves the database holds the SHA-256 of
// each token and never the token itself: not in the rows and, on SQLite,
// nowhere in the database files.
func TestTokensStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		mustRegister(t, s, reg("alice"))
		sess := mustLogin(t, s, "alice")
		reset, err := s.RequestPasswordReset(ctx, "alice@example.com")
		require.NoError(t, err)
		raw := testdb.Raw(t, dsn)

		for _, tc := range []struct {
			table, token string
		}{{"sessions", sess.Token}, {"password_resets", reset.Token}} {
			b, err := base64.RawURLEncoding.DecodeString(tc.token)
			require.NoError(t, err)
			require.Len(t, b, 32, "256-bit token")
			sum := sha256.Sum256(b)
			var stored string
			require.NoError(t, raw.QueryRowContext(ctx, "SELECT token_hash FROM "+tc.table).Scan(&stored))
			assert.Equal(t, hex.EncodeToString(sum[:]), stored, tc.table)
			assertNotInDatabase(t, raw, dsn, tc.token)
		}
	})
}

// assertNotInDatabase checks that secret appears in no column of the
// session tables and, for SQLite, in no byte of the database files.
func assertNotInDatabase(t *testing.T, raw *sql.DB, dsn, secret string) {
	t.Helper()
	for _, q := range []string{
		"SELECT CAST(id AS TEXT) || user_id || token_hash || CAST(created_at AS TEXT) || CAST(last_seen_at AS TEXT) || CAST(expires_at AS TEXT) FROM sessions",
		"SELECT CAST(id AS TEXT) || user_id || token_hash || CAST(created_at AS TEXT) || CAST(expires_at AS TEXT) FROM password_resets",
	} {
		rows, err := raw.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var row string
			require.NoError(t, rows.Scan(&row))
			assert.NotContains(t, row, secret)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	if database.IsPostgres(dsn) {
		return
	}
	files, err := filepath.Glob(dsn + "*") // the database, its WAL and shared memory
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.False(t, strings.Contains(string(b), secret), "token found in %s", filepath.Base(f))
	}
}

func TestSessionConfigValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  auth.Config
	}{
		{"idle timeout under two touch intervals", auth.Config{SessionIdleTimeout: time.Minute}},
		{"negative lifetime", auth.Config{SessionLifetime: -time.Hour}},
		{"negative reset lifetime", auth.Config{ResetTokenLifetime: -time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.BcryptCost, cfg.InsecureAllowLowBcryptCostForTesting = 4, true
			_, err := auth.OpenMemory(context.Background(), cfg)
			assert.Error(t, err)
		})
	}
}
