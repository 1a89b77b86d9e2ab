package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"

	"example.com/tasks/schema"
	"example.com/tasks/server"
	"example.com/tasks/task"
)

// postgresURLEnv enables the PostgreSQL run, as in credstore's own suite: a
// URL of a role that may create databases.
const postgresURLEnv = "CREDSTORE_TEST_POSTGRES_URL"

// onEngines runs fn once per engine, as subtests "sqlite" and "postgres",
// each with the DSN of a fresh database. SQLite always runs; PostgreSQL
// when postgresURLEnv is set, and fails without it under CI=true, where an
// engine must never pass by being skipped.
func onEngines(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, filepath.Join(t.TempDir(), "tasks.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, postgresDB(t))
	})
}

// postgresDB creates a database on the server of postgresURLEnv, drops it
// when t ends, and returns its URL.
func postgresDB(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(postgresURLEnv)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests", postgresURLEnv)
		}
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://user:pass@127.0.0.1:5432/postgres?sslmode=disable", postgresURLEnv)
	}
	pool, err := sql.Open("pgx", admin)
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "tasks_test_" + hex.EncodeToString(b)
	_, err = pool.ExecContext(t.Context(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	// Registered before the test's own cleanups, so it runs after them:
	// the test's pool is closed by then (FORCE ends what is left).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v (left for the operator)", name, err)
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// app is the application under test on a real listening server.
type app struct {
	URL   string
	Store *auth.Store
	Pool  *sql.DB
	Clock *clock
}

// newApp opens the database at dsn as main.go does (its pool, credstore's
// store on it with the application's migrations, the task service on the
// same pool) and serves server.New on a listening socket.
func newApp(t *testing.T, dsn string) *app {
	t.Helper()
	ctx := t.Context()
	var pool *sql.DB
	var err error
	if filepath.IsAbs(dsn) {
		sqliteDSN, derr := auth.SQLiteDSN(dsn)
		require.NoError(t, derr)
		pool, err = sql.Open("sqlite", sqliteDSN)
	} else {
		pool, err = sql.Open("pgx", dsn)
	}
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	policy := auth.DefaultPolicy()
	policy.RequireUsername = false // as main.go
	store, err := auth.OpenDB(ctx, pool, auth.Config{
		AppMigrations:                        schema.FS,
		Policy:                               &policy,
		BcryptCost:                           4,
		InsecureAllowLowBcryptCostForTesting: true,
		Logger:                               slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	a, err := authhttp.New(store, authhttp.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	clk := &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	tasks := task.NewService(pool)
	tasks.Now = clk.Now
	srv := httptest.NewServer(server.New(a, tasks))
	t.Cleanup(srv.Close)
	return &app{URL: srv.URL, Store: store, Pool: pool, Clock: clk}
}

// clock is the task service's clock, advanced by hand.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	next func() // run by the next call of Now, then forgotten
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	next := c.next
	c.next = nil
	c.mu.Unlock()
	if next != nil {
		next()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// BeforeNext has the next call of Now run f first: a way into the task
// service between a request's authentication and its write.
func (c *clock) BeforeNext(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = f
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// user is a registered, logged-in user: its id in credstore and its
// session token (the cookie's value, also a bearer token).
type user struct {
	ID    int64
	Email string
	Token string
}

// signUp registers email and logs in through credstore's routes mounted
// under /auth/.
func (a *app) signUp(t *testing.T, email string) user {
	t.Helper()
	form := url.Values{"email": {email}, "password": {"correct horse battery"}}
	resp, err := http.PostForm(a.URL+"/auth/users", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.PostForm(a.URL+"/auth/sessions", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == authhttp.DefaultCookieName {
			token = c.Value
		}
	}
	require.NotEmpty(t, token)
	u, err := a.Store.UserByEmail(t.Context(), email)
	require.NoError(t, err)
	return user{ID: u.ID, Email: email, Token: token}
}

// reply is a decoded response.
type reply struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// call sends a request with the session cookie of u (none when u is nil)
// and body (nil: none; a string is sent as it is, anything else as JSON).
func (a *app) call(t *testing.T, u *user, method, path string, body any, header ...string) reply {
	t.Helper()
	h := http.Header{}
	if u != nil {
		h.Set("Cookie", authhttp.DefaultCookieName+"="+u.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return a.send(t, method, path, body, h)
}

// bearer sends a request authenticated by u's token in an Authorization
// header, without the cookie.
func (a *app) bearer(t *testing.T, u user, method, path string, body any, header ...string) reply {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + u.Token}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return a.send(t, method, path, body, h)
}

func (a *app) send(t *testing.T, method, path string, body any, h http.Header) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.URL+path, r)
	require.NoError(t, err)
	req.Header = h
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.Body), "a JSON reply: %s", raw)
	}
	return out
}

// createTask creates a task of u and returns its id.
func (a *app) createTask(t *testing.T, u user, title string) string {
	t.Helper()
	r := a.call(t, &u, "POST", "/tasks", map[string]any{"title": title, "description": "of " + u.Email})
	require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	id, _ := r.Body["id"].(string)
	require.NotEmpty(t, id)
	return id
}
