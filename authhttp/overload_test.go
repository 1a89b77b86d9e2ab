package authhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// busy is the body of every 503.
var busy = map[string]any{"message": "server busy, try again shortly"}

// assertBusy checks a 503 with Retry-After and the JSON body.
func assertBusy(t *testing.T, r reply) {
	t.Helper()
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, r.Raw)
	assert.Equal(t, "2", r.Header.Get("Retry-After"))
	assert.Equal(t, busy, r.Body)
}

// assertNoServerErrors checks that the server logged nothing at level ERROR.
func assertNoServerErrors(t *testing.T, log string) {
	t.Helper()
	assert.NotContains(t, log, `"level":"ERROR"`, "an overload or a deadline is not a server error")
}

// TestOverloadedIs503: with auth's hash gate full (one hash at a time, no
// queue), concurrent registrations and logins that find no room get 503
// with Retry-After and the JSON body, at once and without side effect: no
// account for a refused registration, no cookie or session for a refused
// login.
func TestOverloadedIs503(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{}, func(c *auth.Config) {
			c.BcryptCost = 10 // tens of milliseconds a hash: the requests overlap
			c.MaxConcurrentHashes = 1
			c.MaxQueuedHashes = -1
		})
		const n = 8
		burst := func(do func(c *client, i int) reply) []reply {
			replies := make([]reply, n)
			clients := make([]*client, n)
			for i := range clients {
				clients[i] = svc.client(t)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					replies[i] = do(clients[i], i)
				})
			}
			close(start)
			wg.Wait()
			return replies
		}
		email := func(i int) string { return fmt.Sprintf("user%d@example.com", i) }

		replies := burst(func(c *client, i int) reply {
			return c.form("POST", "/users", "email", email(i), "password", "password-1")
		})
		var ok, refused int
		for i, r := range replies {
			_, err := svc.Store.UserByEmail(t.Context(), email(i))
			switch r.Status {
			case http.StatusOK:
				ok++
				assert.NoError(t, err, "a 200 registration is stored")
			case http.StatusServiceUnavailable:
				refused++
				assertBusy(t, r)
				assert.ErrorIs(t, err, auth.ErrNotFound, "a 503 registration leaves no account")
			default:
				t.Errorf("registration %d: %d %s", i, r.Status, r.Raw)
			}
		}
		require.Positive(t, ok, "one registration at least holds the gate")
		require.Positive(t, refused, "the others find it full")

		// Every account exists from here on (registered one at a time).
		for i, r := range replies {
			if r.Status != http.StatusOK {
				require.Equal(t, http.StatusOK, svc.client(t).form("POST", "/users", "email", email(i), "password", "password-1").Status)
			}
		}
		replies = burst(func(c *client, i int) reply {
			return c.form("POST", "/sessions", "email", email(i), "password", "password-1")
		})
		ok, refused = 0, 0
		for i, r := range replies {
			u, err := svc.Store.UserByEmail(t.Context(), email(i))
			require.NoError(t, err)
			sessions, err := svc.Store.ListSessions(t.Context(), u.ID)
			require.NoError(t, err)
			switch r.Status {
			case http.StatusOK:
				ok++
				assert.Len(t, sessions, 1)
			case http.StatusServiceUnavailable:
				refused++
				assertBusy(t, r)
				assert.Empty(t, r.Header.Values("Set-Cookie"), "no cookie with a 503")
				assert.Empty(t, sessions, "a 503 login makes no session")
			default:
				t.Errorf("login %d: %d %s", i, r.Status, r.Raw)
			}
		}
		assert.Positive(t, ok)
		assert.Positive(t, refused)
		assertNoServerErrors(t, svc.Log.String())
		assertNoSecrets(t, svc.Log.String(), "password-1")
	})
}

// TestDeadlineAbandonsWork: when Options.RequestTimeout passes while a
// request is hashing, the request's work is abandoned before its
// transaction commits, and the reply is a 503, logged as a warning rather
// than a server error. Without the deadline each of these requests would
// succeed.
func TestDeadlineAbandonsWork(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{RequestTimeout: 20 * time.Millisecond, ExposeResetToken: true},
			func(c *auth.Config) { c.BcryptCost = 11 }) // about 100 ms a hash, several deadlines
		ctx := t.Context()
		c := svc.client(t)

		r := c.form("POST", "/users", "email", "late@example.com", "password", "password-1")
		assertBusy(t, r)
		_, err := svc.Store.UserByEmail(ctx, "late@example.com")
		assert.ErrorIs(t, err, auth.ErrNotFound, "the abandoned registration did not commit")

		u, err := svc.Store.Register(ctx, auth.Registration{Email: "bob@example.com", Password: "password-1"})
		require.NoError(t, err)
		r = c.form("POST", "/sessions", "email", "bob@example.com", "password", "password-1")
		assertBusy(t, r)
		assert.Empty(t, r.Header.Values("Set-Cookie"))
		sessions, err := svc.Store.ListSessions(ctx, u.ID)
		require.NoError(t, err)
		assert.Empty(t, sessions, "the abandoned login made no session")

		// The reset hashes the new password and misses its deadline, so the
		// token is not spent and the password not changed. (The token is
		// asked of the store: even a request without bcrypt can miss a 20 ms
		// deadline on a busy machine.)
		reset, err := svc.Store.RequestPasswordReset(ctx, "bob@example.com")
		require.NoError(t, err)
		token := reset.Token
		r = c.form("PUT", "/reset_password", "email", "bob@example.com", "reset_token", token, "new_password", "password-2")
		assertBusy(t, r)
		_, err = svc.Store.Login(ctx, "bob@example.com", "password-1")
		assert.NoError(t, err, "the password is unchanged")
		assert.NoError(t, svc.Store.ResetPassword(ctx, "bob@example.com", token, "password-3"), "the token was not spent")

		log := svc.Log.String()
		assert.Contains(t, log, "request abandoned: deadline passed")
		assert.Contains(t, log, `"level":"WARN"`)
		assertNoServerErrors(t, log)
		assertNoSecrets(t, log, "password-1", "password-2", token)
	})
}

// TestClientGoneAbandonsWork: a client that hangs up while its
// registration hashes leaves no account behind, and the server does not
// call that an error. The request's context ends with the connection.
func TestClientGoneAbandonsWork(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{RequestTimeout: -1}, func(c *auth.Config) { c.BcryptCost = 11 })
		// Hang up 10 ms after the whole request is sent, while the server
		// hashes (about 100 ms at cost 11).
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { time.AfterFunc(10*time.Millisecond, cancel) },
		})
		req, err := http.NewRequestWithContext(ctx, "POST", svc.URL+"/users",
			strings.NewReader("email=gone%40example.com&password=password-1"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("the client got a reply (%d) before hanging up", resp.StatusCode)
		}

		// Wait for the handler to finish: the access log has its line.
		require.Eventually(t, func() bool {
			return strings.Contains(svc.Log.String(), `"path":"/users"`)
		}, 10*time.Second, 5*time.Millisecond)
		_, err = svc.Store.UserByEmail(t.Context(), "gone@example.com")
		assert.ErrorIs(t, err, auth.ErrNotFound, "the abandoned registration did not commit")
		assert.Contains(t, svc.Log.String(), "request abandoned: client gone")
		assertNoServerErrors(t, svc.Log.String())
	})
}
