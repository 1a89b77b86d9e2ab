package auth_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// testConfig hashes at bcrypt's minimum cost, which keeps the suite fast,
// and queues every hash rather than shedding any: the concurrency tests
// race database writes, not the hash gate (gate_internal_test.go tests it).
//
// It also throttles nothing in practice (a million free failures): tests of
// other things fail logins on purpose, many times over. The throttle's own
// tests (throttle_test.go) set the policies they test.
func testConfig() auth.Config {
	return auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, MaxQueuedHashes: 1 << 16,
		LoginThrottle: lenientThrottle, ResetThrottle: lenientThrottle,
	}
}

// lenientThrottle lets a million failures through before it waits.
var lenientThrottle = auth.ThrottlePolicy{FreeFailures: 1e6, BaseDelay: time.Second, MaxDelay: time.Second, DailyFailures: 1e6}

// newStore opens a store on dsn with testConfig adjusted by opts, closed when
// t ends.
func newStore(t *testing.T, dsn string, opts ...func(*auth.Config)) *auth.Store {
	t.Helper()
	cfg := testConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s, err := auth.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// withPolicy sets the store's policy.
func withPolicy(p auth.Policy) func(*auth.Config) {
	return func(c *auth.Config) { c.Policy = &p }
}

// withClock sets the store's clock.
func withClock(c *testdb.Clock) func(*auth.Config) {
	return func(cfg *auth.Config) { cfg.Now = c.Now }
}

// t0 is the start of every injected clock: deliberately not UTC and with
// nanoseconds, which the store must normalise.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+2", 2*60*60))

// reg returns a registration whose values derive from name, valid under
// every preset.
func reg(name string) auth.Registration {
	return auth.Registration{
		Username: name,
		Email:    name + "@example.com",
		Password: pw(name),
	}
}

// pw is the password reg gives name.
func pw(name string) string { return "Secret-" + name + "-42" }

// mustRegister registers r and returns the user.
func mustRegister(t *testing.T, s *auth.Store, r auth.Registration) auth.User {
	t.Helper()
	u, err := s.Register(context.Background(), r)
	require.NoError(t, err, "register %q", r.Username)
	return u
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRow(query string, args ...any) *sql.Row
}

// countRows counts the rows of table through raw SQL.
func countRows(t *testing.T, raw queryer, table string) int {
	t.Helper()
	var n int
	require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

// storedHash reads a user's password hash and password_changed_at through raw
// SQL.
func storedHash(t *testing.T, raw *sql.DB, userID int64) (string, time.Time) {
	t.Helper()
	var hash string
	var changed time.Time
	q := fmt.Sprintf("SELECT password_hash, password_changed_at FROM credentials WHERE user_id = %d", userID)
	require.NoError(t, raw.QueryRow(q).Scan(&hash, &changed))
	return hash, changed
}

// requireValidation asserts that err is a *ValidationError naming exactly
// fields, and returns it.
func requireValidation(t *testing.T, err error, fields ...string) *auth.ValidationError {
	t.Helper()
	var verr *auth.ValidationError
	require.ErrorAs(t, err, &verr)
	require.ErrorIs(t, err, auth.ErrValidation)
	got := make([]string, 0, len(verr.Fields))
	for f := range verr.Fields {
		got = append(got, f)
	}
	require.ElementsMatch(t, fields, got, "fields of %v", err)
	return verr
}

// requireDuplicate asserts that err is a *DuplicateError for field.
func requireDuplicate(t *testing.T, err error, field string) {
	t.Helper()
	var dup *auth.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.ErrorIs(t, err, auth.ErrDuplicate)
	require.Equal(t, field, dup.Field)
}

func ptr[T any](v T) *T { return &v }
