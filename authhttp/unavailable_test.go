package authhttp_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
	"github.com/credstore/credstore/internal/testhook"
)

// TestDatabaseUnavailableIs503: PostgreSQL ends every connection of the
// service's database (pg_terminate_backend, as a restart does) and takes
// no new ones (a connection limit of 0: "too many connections", as while a
// server starts). A request that finds the database so, whether it went
// away while the request ran or before it came, is answered 503 with
// Retry-After in both dialects, logged as a transient warning, not a 500;
// and the service answers again once the database is back.
func TestDatabaseUnavailableIs503(t *testing.T) {
	t.Parallel()
	dsn := testdb.DSN(t, database.Postgres)
	down := databaseSwitch(t, dsn)

	// The request that arms it takes the database away after its
	// password's turn at the hash gate: after it has read the throttle,
	// before its transaction.
	var armed atomic.Bool
	wrap, _ := hooked(&testhook.Hooks{HashTurn: func(context.Context) {
		if armed.CompareAndSwap(true, false) {
			down(true)
		}
	}})
	h, svc := newHandler(t, dsn, authhttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
	svc.URL = startHandlerOn(t, h, wrap(mux))
	c := svc.client(t)
	require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "ann@example.com", "password", "password-1").Status)

	assertUnavailable := func(r reply) {
		t.Helper()
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, r.Raw)
		assert.Equal(t, "5", r.Header.Get("Retry-After"))
	}
	t.Run("while the request runs", func(t *testing.T) {
		armed.Store(true)
		r := c.form("POST", "/sessions", "email", "ann@example.com", "password", "password-1")
		assertUnavailable(r)
		assert.Equal(t, map[string]any{"message": "service temporarily unavailable, try again shortly"}, r.Body)
		assert.Empty(t, c.sessionCookie(), "no session")
	})
	t.Run("before the request came", func(t *testing.T) {
		r := c.send("POST", "/api/v1/sessions", "application/json",
			strings.NewReader(`{"identifier":"ann@example.com","password":"password-1"}`))
		assertUnavailable(r)
		assert.Equal(t, map[string]any{"error": map[string]any{"code": authhttp.CodeUnavailable,
			"message": "service temporarily unavailable, try again shortly"}}, r.Body)
		r = c.form("POST", "/users", "email", "bob@example.com", "password", "password-1")
		assertUnavailable(r)
	})
	t.Run("back", func(t *testing.T) {
		down(false)
		r := c.form("POST", "/sessions", "email", "ann@example.com", "password", "password-1")
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "bob@example.com", "password", "password-1").Status)
	})

	log := svc.Log.String()
	assertNoServerErrors(t, log)
	assert.Contains(t, log, `"level":"WARN","msg":"database unavailable (transient): answered 503"`)
	assert.Contains(t, log, "SQLSTATE", "the driver's error is logged")
}

// databaseSwitch returns a function that takes the PostgreSQL database of
// dsn away (down(true): every connection to it ended, no new one taken)
// and gives it back (down(false)). It works from the server's maintenance
// database, on one connection of its own, and gives the database back when
// t ends.
func databaseSwitch(t *testing.T, dsn string) (down func(bool)) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	admin, err := sql.Open("pgx", testdb.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	conn, err := admin.Conn(context.Background())
	require.NoError(t, err)
	limit := func(n string) {
		_, err := conn.ExecContext(context.Background(), "ALTER DATABASE "+name+" CONNECTION LIMIT "+n)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		limit("-1")
		conn.Close()
	})
	return func(away bool) {
		if !away {
			limit("-1")
			return
		}
		limit("0")
		_, err := conn.ExecContext(context.Background(),
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", strings.TrimPrefix(u.Path, "/"))
		require.NoError(t, err)
	}
}
