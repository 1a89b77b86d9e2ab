package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
)

// sessClock is a settable clock for Config.Now, safe for concurrent use.
type sessClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *sessClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *sessClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sessStart is where every injected clock of the session tests starts: not
// UTC and with nanoseconds, which the store must normalise.
var sessStart = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("UTC-3", -3*60*60))

// openSessStore opens a store on dsn with a low bcrypt cost and the given
// clock, adjusted by opts, closed when t ends.
func openSessStore(t *testing.T, dsn string, clk *sessClock, opts ...func(*auth.Config)) *auth.Store {
	t.Helper()
	cfg := auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, Now: clk.Now}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := auth.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// mustRegister registers name@example.com with password name+"-password".
func mustRegister(t *testing.T, s *auth.Store, name string) auth.User {
	t.Helper()
	u, err := s.Register(context.Background(), auth.Registration{
		Username: name, Email: name + "@example.com", Password: name + "-password",
	})
	require.NoError(t, err)
	return u
}

// mustLogin starts a session for name as mustRegister registered them.
func mustLogin(t *testing.T, s *auth.Store, name string) auth.Session {
	t.Helper()
	_, sess, err := s.LoginSession(context.Background(), name+"@example.com", name+"-password")
	require.NoError(t, err)
	require.NotEmpty(t, sess.Token)
	return sess
}

// isPostgres tells a PostgreSQL DSN from a SQLite one.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}
