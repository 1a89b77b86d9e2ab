package auth_test

import (
	"context"
	"errors"
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

// These tests prove that the engines behave alike through the public API;
// they run on SQLite always and on PostgreSQL when CREDSTORE_TEST_POSTGRES_URL
// is set (see internal/testdb).

func openStore(t *testing.T, dsn string) *auth.Store {
	t.Helper()
	s, err := auth.Open(context.Background(), dsn, testConfig())
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOpenPostgresURL opens a store with each URL scheme PostgreSQL is known
// by, and checks that duplicates are reported by field as on SQLite.
func TestOpenPostgresURL(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"postgres", "postgresql"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			dsn := testdb.DSN(t, database.Postgres)
			rest, ok := strings.CutPrefix(dsn, "postgres://")
			require.True(t, ok, "testdb gives postgres:// URLs")
			s := openStore(t, scheme+"://"+rest)
			ctx := context.Background()

			alice, err := s.Register(ctx, auth.Registration{Username: "alice", Email: "Alice@Example.com", Phone: "+14155550100", Password: "hunter2!"})
			require.NoError(t, err)
			assert.Equal(t, int64(1), alice.ID)

			for field, r := range map[string]auth.Registration{
				auth.FieldUsername: {Username: "alice", Email: "a2@example.com", Password: "hunter2!"},
				auth.FieldEmail:    {Username: "alice2", Email: "ALICE@example.COM", Password: "hunter2!"},
				auth.FieldPhone:    {Username: "alice3", Email: "a3@example.com", Phone: "+14155550100", Password: "hunter2!"},
			} {
				_, err := s.Register(ctx, r)
				var dup *auth.DuplicateError
				require.ErrorAs(t, err, &dup, field)
				assert.Equal(t, field, dup.Field)
			}

			got, err := s.Login(ctx, "alice@example.com", "hunter2!")
			require.NoError(t, err)
			assert.Equal(t, alice, got)
			_, err = s.Login(ctx, "alice", "wrong password")
			assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		})
	}
}

// TestOpenPostgresBadPassword checks that a failed connection does not put
// the URL's password in the error.
func TestOpenPostgresBadPassword(t *testing.T) {
	t.Parallel()
	dsn := testdb.DSN(t, database.Postgres)
	i := strings.Index(dsn, "@")
	j := strings.LastIndex(dsn[:i], ":")
	require.Positive(t, j, "the test URL has a password")
	bad := dsn[:j+1] + "not-the-Password-42" + dsn[i:]
	_, err := auth.Open(context.Background(), bad, testConfig())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "not-the-Password-42")
	t.Log(err)
}

// TestRegisterOneWinnerPerEngine races 50 registrations of one username:
// the unique constraint lets exactly one through, on every engine.
func TestRegisterOneWinnerPerEngine(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		s := openStore(t, dsn)
		const n = 50
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Register(context.Background(), auth.Registration{
					Username: "racer",
					Email:    "racer" + strings.Repeat("x", i) + "@example.com",
					Password: "hunter2!",
				})
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			var dup *auth.DuplicateError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &dup):
				assert.Equal(t, auth.FieldUsername, dup.Field)
			default:
				t.Errorf("untyped error: %v", err)
			}
		}
		assert.Equal(t, 1, wins)
	})
}

// TestEngineParity walks every store operation once on each engine, so a
// query that one engine reads differently (the CASE/CAST of UpdateUser,
// LIMIT, the times) shows up here.
func TestEngineParity(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clock := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
		cfg := testConfig()
		cfg.Now = func() time.Time { return clock }
		s, err := auth.Open(ctx, dsn, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })

		var users []auth.User
		for _, name := range []string{"ann", "ben", "cat"} {
			u, err := s.Register(ctx, auth.Registration{Username: name, Email: name + "@Example.com", Password: "password-" + name})
			require.NoError(t, err)
			users = append(users, u)
		}
		ann := users[0]
		want := clock.UTC().Truncate(time.Microsecond)
		assert.Equal(t, want, ann.CreatedAt)
		assert.Equal(t, time.UTC, ann.CreatedAt.Location())

		for name, get := range map[string]func() (auth.User, error){
			"id":        func() (auth.User, error) { return s.User(ctx, ann.ID) },
			"public id": func() (auth.User, error) { return s.UserByPublicID(ctx, ann.PublicID) },
			"username":  func() (auth.User, error) { return s.UserByUsername(ctx, "ann") },
			"email":     func() (auth.User, error) { return s.UserByEmail(ctx, "ANN@example.COM") },
		} {
			got, err := get()
			require.NoError(t, err, name)
			assert.Equal(t, ann, got, name)
		}
		_, err = s.UserByPublicID(ctx, "not-a-uuid")
		assert.ErrorIs(t, err, auth.ErrNotFound)
		_, err = s.UserByUsername(ctx, "ANN")
		assert.ErrorIs(t, err, auth.ErrNotFound, "usernames are case-sensitive")

		page, err := s.ListUsers(ctx, auth.ListOptions{Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, users[:2], page)
		page, err = s.ListUsers(ctx, auth.ListOptions{AfterID: page[1].ID, Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, users[2:], page)

		// A partial update changes only the fields given.
		clock = clock.Add(time.Minute)
		phone, admin := "+442071838750", true
		upd, err := s.UpdateUser(ctx, ann.ID, auth.UserUpdate{Phone: &phone, IsAdmin: &admin})
		require.NoError(t, err)
		assert.Equal(t, "ann", upd.Username)
		assert.Equal(t, "ann@Example.com", upd.Email)
		assert.Equal(t, phone, upd.Phone)
		assert.True(t, upd.IsAdmin)
		assert.Equal(t, want, upd.CreatedAt)
		assert.Equal(t, want.Add(time.Minute), upd.UpdatedAt)
		none, email := "", "BEN@example.com"
		_, err = s.UpdateUser(ctx, ann.ID, auth.UserUpdate{Phone: &none, Email: &email})
		var dup *auth.DuplicateError
		require.ErrorAs(t, err, &dup)
		assert.Equal(t, auth.FieldEmail, dup.Field)
		got, err := s.User(ctx, ann.ID)
		require.NoError(t, err)
		assert.Equal(t, phone, got.Phone, "a failed update changes nothing")
		upd, err = s.UpdateUser(ctx, ann.ID, auth.UserUpdate{Phone: &none})
		require.NoError(t, err)
		assert.Empty(t, upd.Phone)
		_, err = s.UpdateUser(ctx, 9999, auth.UserUpdate{IsAdmin: &admin})
		assert.ErrorIs(t, err, auth.ErrNotFound)

		require.NoError(t, s.ChangePassword(ctx, ann.ID, "password-ann", "new-password-1"))
		assert.ErrorIs(t, s.ChangePassword(ctx, ann.ID, "password-ann", "new-password-2"), auth.ErrInvalidCredentials)
		require.NoError(t, s.SetPassword(ctx, ann.ID, "new-password-3"))
		_, err = s.Login(ctx, "ann", "new-password-1")
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		_, err = s.Login(ctx, "ann", "new-password-3")
		assert.NoError(t, err)

		raw := testdb.Raw(t, dsn)
		var creds int
		require.NoError(t, s.DeleteUser(ctx, ann.ID))
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM credentials WHERE user_id = ?1", ann.ID).Scan(&creds))
		assert.Zero(t, creds, "the credential went with the user")
		assert.ErrorIs(t, s.DeleteUser(ctx, ann.ID), auth.ErrNotFound)
	})
}
