package authhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
	"github.com/credstore/credstore/internal/testhook"
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

// hooked returns a wrapper that puts hooks on the context of every
// request, and a channel that gets a value each time a request's handler
// returns: the moments the tests below wait for.
func hooked(hooks *testhook.Hooks) (wrap func(http.Handler) http.Handler, served <-chan string) {
	ch := make(chan string, 64)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() { ch <- r.Method + " " + r.URL.Path }()
			next.ServeHTTP(w, r.WithContext(testhook.With(r.Context(), hooks)))
		})
	}, ch
}

// within receives from ch, failing t if nothing comes within
// testdb.Patience (a bound against a hang, not a timing assumption).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testdb.Patience):
		t.Fatalf("%s: nothing within %v", what, testdb.Patience)
		var zero T
		return zero
	}
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
		// The first request to get the gate's one turn holds it until
		// every other request of the burst has its reply: those find the
		// gate full, whatever the machine's speed.
		var (
			mu      sync.Mutex
			release chan struct{} // closed when the rest of the burst is answered
		)
		wrap, _ := hooked(&testhook.Hooks{HashTurn: func(context.Context) {
			mu.Lock()
			r := release
			release = nil
			mu.Unlock()
			if r != nil {
				<-r
			}
		}})
		h, svc := newHandler(t, dsn, authhttp.Options{}, func(c *auth.Config) {
			c.MaxConcurrentHashes = 1
			c.MaxQueuedHashes = -1
		})
		svc.URL = startHandler(t, h, wrap)
		const n = 8
		burst := func(do func(c *client, i int) reply) []reply {
			replies := make([]reply, n)
			clients := make([]*client, n)
			for i := range clients {
				clients[i] = svc.client(t)
			}
			r := make(chan struct{})
			mu.Lock()
			release = r
			mu.Unlock()
			answered := make(chan struct{}, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					replies[i] = do(clients[i], i)
					answered <- struct{}{}
				})
			}
			for range n - 1 {
				within(t, answered, "a reply while the gate is held")
			}
			close(r)
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
		require.Equal(t, 1, ok, "one registration holds the gate")
		require.Equal(t, n-1, refused, "the others find it full")

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
		assert.Equal(t, 1, ok)
		assert.Equal(t, n-1, refused)
		assertNoServerErrors(t, svc.Log.String())
		assertNoSecrets(t, svc.Log.String(), "password-1")
	})
}

// TestDeadlineAbandonsWork: when Options.RequestTimeout passes while a
// request is hashing, the request's work is abandoned before its
// transaction commits, and the reply is a 503, logged as a warning rather
// than a server error. Without the deadline each of these requests would
// succeed. Each request holds its turn at the hash gate until its deadline
// has passed, so the deadline passes while it hashes on any machine.
func TestDeadlineAbandonsWork(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		wrap, _ := hooked(&testhook.Hooks{HashTurn: func(ctx context.Context) { <-ctx.Done() }})
		h, svc := newHandler(t, dsn, authhttp.Options{RequestTimeout: 20 * time.Millisecond, ExposeResetToken: true})
		svc.URL = startHandler(t, h, wrap)
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
		// asked of the store: a request without bcrypt can miss a 20 ms
		// deadline too, on a busy machine.)
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
// call that an error. The request's context ends with the connection. The
// registration holds its turn at the hash gate until the server has seen
// the client go, so the hang-up lands while it hashes on any machine.
func TestClientGoneAbandonsWork(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		hashing := make(chan struct{}, 1)
		wrap, served := hooked(&testhook.Hooks{HashTurn: func(ctx context.Context) {
			hashing <- struct{}{}
			<-ctx.Done()
		}})
		h, svc := newHandler(t, dsn, authhttp.Options{RequestTimeout: -1})
		svc.URL = startHandler(t, h, wrap)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			select {
			case <-hashing:
				cancel() // hang up
			case <-ctx.Done():
			}
		}()
		req, err := http.NewRequestWithContext(ctx, "POST", svc.URL+"/users",
			strings.NewReader("email=gone%40example.com&password=password-1"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("the client got a reply (%d) before hanging up", resp.StatusCode)
		}

		assert.Equal(t, "POST /users", within(t, served, "the handler returns"))
		_, err = svc.Store.UserByEmail(t.Context(), "gone@example.com")
		assert.ErrorIs(t, err, auth.ErrNotFound, "the abandoned registration did not commit")
		assert.Contains(t, svc.Log.String(), "request abandoned: client gone")
		assertNoServerErrors(t, svc.Log.String())
	})
}
