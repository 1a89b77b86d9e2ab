package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// requireLongLogin asserts the error of a login-like call given a password
// over 72 bytes: the one login error, and also a validation error for field.
func requireLongLogin(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	requireValidation(t, err, field)
}

// TestPasswordMaxBytes checks the 72-byte rule on every path that takes a
// password. bcrypt ignores every byte after the 72nd, so without the rule a
// 73-byte password would log in by its first 72 bytes.
func TestPasswordMaxBytes(t *testing.T) {
	t.Parallel()
	p72 := "Ab1" + strings.Repeat("x", 69)
	p73 := p72 + "!"
	require.Len(t, p72, 72)
	require.Len(t, p73, 73)

	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		raw := testdb.Raw(t, dsn)

		_, err := s.Register(ctx, auth.Registration{Username: "long", Email: "long@example.com", Password: p73})
		requireValidation(t, err, "password")
		assert.Zero(t, countRows(t, raw, "users"))

		alice := mustRegister(t, s, auth.Registration{Username: "alice", Email: "alice@example.com", Password: p72})
		_, err = s.Login(ctx, "alice", p72)
		require.NoError(t, err, "72 bytes is allowed")

		t.Run("why: bcrypt alone accepts the 73-byte password", func(t *testing.T) {
			hash, _ := storedHash(t, raw, alice.ID)
			assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte(p73)),
				"if this fails, bcrypt no longer truncates and the rule is merely strict")
		})
		t.Run("login by username", func(t *testing.T) {
			_, err := s.Login(ctx, "alice", p73)
			requireLongLogin(t, err, "password")
		})
		t.Run("login by email", func(t *testing.T) {
			_, err := s.Login(ctx, "alice@example.com", p73)
			requireLongLogin(t, err, "password")
		})
		t.Run("login of an unknown user", func(t *testing.T) {
			_, err := s.Login(ctx, "ghost", p73)
			requireLongLogin(t, err, "password")
		})
		t.Run("change password, current", func(t *testing.T) {
			err := s.ChangePassword(ctx, alice.ID, p73, "Another-password-1")
			requireLongLogin(t, err, "current_password")
		})
		t.Run("change password, new", func(t *testing.T) {
			err := s.ChangePassword(ctx, alice.ID, p72, p73)
			requireValidation(t, err, "new_password")
			assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
		})
		t.Run("set password", func(t *testing.T) {
			err := s.SetPassword(ctx, alice.ID, p73)
			requireValidation(t, err, "new_password")
		})
		t.Run("multibyte: 72 bytes allowed, 75 refused", func(t *testing.T) {
			_, err := s.Register(ctx, auth.Registration{Username: "euro", Email: "euro@example.com", Password: strings.Repeat("€", 25)})
			requireValidation(t, err, "password")
			u := mustRegister(t, s, auth.Registration{Username: "euro", Email: "euro@example.com", Password: strings.Repeat("€", 24)})
			_, err = s.Login(ctx, "euro", strings.Repeat("€", 24))
			assert.NoError(t, err)
			_, err = s.Login(ctx, "euro", strings.Repeat("€", 24)+"x")
			requireLongLogin(t, err, "password")
			require.NoError(t, s.DeleteUser(ctx, u.ID))
		})

		// After all of that, alice's password is still the 72-byte one.
		_, err = s.Login(ctx, "alice", p72)
		assert.NoError(t, err)
	})
}

// TestRehashOnLogin: a store with a higher cost upgrades an older hash on
// the first successful login, without moving password_changed_at; a failed
// login changes nothing.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		raw := testdb.Raw(t, dsn)
		clk := testdb.NewClock(t0)

		old, err := auth.Open(ctx, dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, Now: clk.Now})
		require.NoError(t, err)
		alice, err := old.Register(ctx, reg("alice"))
		require.NoError(t, err)
		require.NoError(t, old.Close())
		hash4, changed := storedHash(t, raw, alice.ID)
		cost, err := bcrypt.Cost([]byte(hash4))
		require.NoError(t, err)
		require.Equal(t, 4, cost)

		clk.Advance(time.Hour)
		s := newStore(t, dsn, func(c *auth.Config) { c.BcryptCost = 5 }, withClock(clk))

		_, err = s.Login(ctx, "alice", "wrong password")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		h, _ := storedHash(t, raw, alice.ID)
		assert.Equal(t, hash4, h, "a failed login must not rehash")

		got, err := s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		assert.Equal(t, alice.ID, got.ID)
		hash5, changedAfter := storedHash(t, raw, alice.ID)
		cost, err = bcrypt.Cost([]byte(hash5))
		require.NoError(t, err)
		assert.Equal(t, 5, cost, "the login must have rehashed at the store's cost")
		assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash5), []byte(pw("alice"))))
		assert.True(t, changed.Equal(changedAfter), "a rehash is not a password change: %v became %v", changed, changedAfter)

		// The new hash works, and a login at the same cost leaves it alone.
		_, err = s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		h, _ = storedHash(t, raw, alice.ID)
		assert.Equal(t, hash5, h)

		// A store at a lower cost never downgrades.
		back := newStore(t, dsn)
		_, err = back.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		h, _ = storedHash(t, raw, alice.ID)
		assert.Equal(t, hash5, h)
	})
}

// TestStoredPasswords opens a store at the default cost (slow: one user
// only) and checks what reaches the database: a bcrypt hash of cost >= 12,
// and nowhere in the database files the password itself.
func TestStoredPasswords(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s, err := auth.Open(ctx, dsn, auth.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		raw := testdb.Raw(t, dsn)
		const secret = "plaintext-canary-Zq7"
		u, err := s.Register(ctx, auth.Registration{Username: "canaryuser", Email: "canary@example.com", Password: secret})
		require.NoError(t, err)

		hash, _ := storedHash(t, raw, u.ID)
		cost, err := bcrypt.Cost([]byte(hash))
		require.NoError(t, err, "the stored hash must be bcrypt")
		assert.GreaterOrEqual(t, cost, auth.DefaultBcryptCost)
		assert.True(t, strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$"), "bcrypt prefix")
		assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)))

		// Every engine: no column of any table holds the password.
		t.Run("rows", func(t *testing.T) {
			var all strings.Builder
			for _, table := range []string{"users", "credentials", "sessions", "password_resets", "schema_migrations"} {
				rows, err := raw.QueryContext(ctx, "SELECT * FROM "+table)
				require.NoError(t, err, table)
				cols, err := rows.Columns()
				require.NoError(t, err)
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					require.NoError(t, rows.Scan(ptrs...))
					for _, v := range vals {
						if b, ok := v.([]byte); ok {
							v = string(b)
						}
						fmt.Fprintf(&all, "%v\n", v)
					}
				}
				require.NoError(t, rows.Err())
				rows.Close()
			}
			assert.NotContains(t, all.String(), secret, "plaintext password in a row")
			assert.Contains(t, all.String(), "canaryuser", "the scan must see the stored rows")
			assert.Contains(t, all.String(), hash, "the scan must see the stored hash")
		})

		// SQLite only: read every file of the database, while the write may
		// still sit in the WAL and again after a checkpoint moved it into the
		// main file. The username must be found (proving the files hold the
		// data); the password never.
		if _, err := os.Stat(dsn); err != nil {
			t.Run("files", func(t *testing.T) {
				t.Skipf("not a SQLite file database (%v): no files to scan", err)
			})
			return
		}
		scan := func(when string) {
			var all []byte
			for _, suffix := range []string{"", "-wal", "-shm"} {
				b, err := os.ReadFile(dsn + suffix)
				if os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err)
				assert.False(t, bytes.Contains(b, []byte(secret)), "%s: plaintext password in %s", when, dsn+suffix)
				all = append(all, b...)
			}
			assert.True(t, bytes.Contains(all, []byte("canaryuser")), "%s: the scan must see the stored rows", when)
			assert.True(t, bytes.Contains(all, []byte(hash)), "%s: the scan must see the stored hash", when)
		}
		scan("before checkpoint")
		_, err = raw.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		require.NoError(t, err)
		scan("after checkpoint")
	})
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		raw := testdb.Raw(t, dsn)
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		hashBefore, changedBefore := storedHash(t, raw, alice.ID)
		clk.Advance(time.Minute)

		err := s.ChangePassword(ctx, alice.ID, "not the password", "Brand-new-pass-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.Equal(t, "invalid username or password", err.Error())
		h, _ := storedHash(t, raw, alice.ID)
		assert.Equal(t, hashBefore, h, "a wrong current password changes nothing")

		err = s.ChangePassword(ctx, alice.ID, pw("bob"), "Brand-new-pass-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "another user's password is not alice's")

		err = s.ChangePassword(ctx, 999, pw("alice"), "Brand-new-pass-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "a missing user looks like a wrong password")

		err = s.ChangePassword(ctx, alice.ID, pw("alice"), "short")
		requireValidation(t, err, "new_password")

		require.NoError(t, s.ChangePassword(ctx, alice.ID, pw("alice"), "Brand-new-pass-1"))
		_, err = s.Login(ctx, "alice", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials, "the old password must stop working")
		got, err := s.Login(ctx, "alice", "Brand-new-pass-1")
		require.NoError(t, err)
		want := clk.Now().UTC().Truncate(time.Microsecond)
		assert.Equal(t, want, got.UpdatedAt, "a password change moves updated_at")
		assert.Equal(t, alice.CreatedAt, got.CreatedAt)
		_, changed := storedHash(t, raw, alice.ID)
		assert.True(t, changed.Equal(want), "password_changed_at %v, want %v", changed, want)
		assert.True(t, changed.After(changedBefore))

		// bob is untouched.
		_, err = s.Login(ctx, "bob", pw("bob"))
		assert.NoError(t, err)
		assert.Equal(t, bob, mustUser(t, s, bob.ID))
	})
}

// TestChangePasswordRenews: ChangePasswordSession and ChangePasswordTokens
// end every session of the user, the caller's and its refresh tokens too,
// and start one new session for the caller, recorded in the audit trail;
// a refused change ends nothing and starts nothing.
func TestChangePasswordRenews(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		alice := mustRegister(t, s, reg("alice"))
		old := mustTokens(t, s, "alice")
		_, other, err := s.LoginSession(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		clk.Advance(time.Minute)

		_, _, err = s.ChangePasswordSession(ctx, alice.ID, "not the password", "Brand-new-pass-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		_, err = s.ChangePasswordTokens(ctx, alice.ID, pw("alice"), "short")
		requireValidation(t, err, "new_password")
		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Len(t, list, 2, "refused changes end no session and start none")

		u, sess, err := s.ChangePasswordSession(ctx, alice.ID, pw("alice"), "Brand-new-pass-1")
		require.NoError(t, err)
		assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond), u.UpdatedAt, "the user as the change left them")
		assert.Equal(t, alice.PublicID, u.PublicID)
		_, _, err = s.SessionUser(ctx, other.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "the other session ended")
		_, err = s.RefreshTokens(ctx, old.RefreshToken)
		assert.Equal(t, auth.ErrInvalidRefreshToken, err, "the token family ended")
		got, _, err := s.SessionUser(ctx, sess.Token)
		require.NoError(t, err, "the caller's new session")
		assert.Equal(t, alice.ID, got.ID)

		clk.Advance(time.Minute)
		pair, err := s.ChangePasswordTokens(ctx, alice.ID, "Brand-new-pass-1", "Brand-new-pass-2")
		require.NoError(t, err)
		_, _, err = s.SessionUser(ctx, sess.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "the session of the first change ended at the second")
		claims, err := s.VerifyAccessToken(ctx, pair.AccessToken, auth.VerifyOptions{CheckSession: true})
		require.NoError(t, err)
		assert.Equal(t, alice.PublicID, claims.Subject)
		assert.Equal(t, pair.SessionID, claims.SessionID)
		next, err := s.RefreshTokens(ctx, pair.RefreshToken)
		require.NoError(t, err, "the new family's first refresh token")
		assert.Equal(t, pair.SessionID, next.SessionID)
		list, err = s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, pair.SessionID, list[0].ID)

		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, NewestFirst: true, Limit: 4})
		require.NoError(t, err)
		assert.Equal(t, []auth.EventType{auth.EventSessionCreated, auth.EventPasswordChanged, auth.EventSessionCreated, auth.EventPasswordChanged}, typesOf(events))
		assert.JSONEq(t, fmt.Sprintf(`{"session_id": %d, "tokens": true}`, pair.SessionID), string(events[0].Detail))
		assert.JSONEq(t, `{"sessions_ended": 1}`, string(events[1].Detail), "the session of the first change")
		assert.JSONEq(t, fmt.Sprintf(`{"session_id": %d}`, sess.ID), string(events[2].Detail))
		assert.JSONEq(t, `{"sessions_ended": 2}`, string(events[3].Detail))
	})
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		raw := testdb.Raw(t, dsn)
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		alice := mustRegister(t, s, reg("alice"))
		clk.Advance(time.Minute)

		requireValidation(t, s.SetPassword(ctx, alice.ID, "short"), "new_password")
		requireValidation(t, s.SetPassword(ctx, alice.ID, ""), "new_password")
		assert.ErrorIs(t, s.SetPassword(ctx, 999, "Admin-chosen-1"), auth.ErrNotFound)
		assert.Equal(t, alice, mustUser(t, s, alice.ID), "refused calls change nothing")

		require.NoError(t, s.SetPassword(ctx, alice.ID, "Admin-chosen-1"))
		_, err := s.Login(ctx, "alice", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		got, err := s.Login(ctx, "alice", "Admin-chosen-1")
		require.NoError(t, err)
		want := clk.Now().UTC().Truncate(time.Microsecond)
		assert.Equal(t, want, got.UpdatedAt)
		_, changed := storedHash(t, raw, alice.ID)
		assert.True(t, changed.Equal(want), "password_changed_at %v, want %v", changed, want)
		hash, _ := storedHash(t, raw, alice.ID)
		cost, err := bcrypt.Cost([]byte(hash))
		require.NoError(t, err)
		assert.Equal(t, 4, cost, "hashed at the store's cost")
	})
}
