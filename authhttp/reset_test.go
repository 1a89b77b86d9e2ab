package authhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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

// gateSender holds every message until release is closed, then fails
// with err or delivers to sent.
type gateSender struct {
	release chan struct{}
	err     error

	mu   sync.Mutex
	sent []auth.Message
}

func (g *gateSender) Send(ctx context.Context, m auth.Message) error {
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.err != nil {
		return g.err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent = append(g.sent, m)
	return nil
}

func (g *gateSender) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sent)
}

// sameResetReply asserts that two replies to POST /reset_password differ
// in nothing but the address they echo (of the same length, so that
// Content-Length may be compared too) and the Date header.
func sameResetReply(t *testing.T, known, unknown reply, knownEmail, unknownEmail string) {
	t.Helper()
	assert.Equal(t, known.Status, unknown.Status)
	assert.Equal(t, known.Raw, strings.ReplaceAll(unknown.Raw, unknownEmail, knownEmail))
	k, u := known.Header.Clone(), unknown.Header.Clone()
	k.Del("Date")
	u.Del("Date")
	assert.Equal(t, k, u)
}

// TestResetRevealsNoAccount: outside ExposeResetToken, POST
// /reset_password answers an address without an account exactly as one
// with: status, headers and body. The message for the known address is
// delivered after the reply, so a mail server that hangs or fails changes
// nothing in it; Shutdown waits for the delivery.
func TestResetRevealsNoAccount(t *testing.T) {
	t.Parallel()
	for _, failing := range []bool{false, true} {
		name := "delivered"
		if failing {
			name = "delivery fails"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				sender := &gateSender{release: make(chan struct{})}
				if failing {
					sender.err = errors.New("smtp: 451")
				}
				h, svc := newHandler(t, dsn, authhttp.Options{}, func(c *auth.Config) { c.ResetSender = sender })
				svc.URL = startHandler(t, h)
				c := svc.client(t)
				require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-1").Status)

				known := c.form("POST", "/reset_password", "email", "alice@example.com")
				unknown := c.form("POST", "/reset_password", "email", "zelda@example.com")
				assert.Equal(t, http.StatusOK, known.Status, "answered while the message is still held: %s", known.Raw)
				sameResetReply(t, known, unknown, "alice@example.com", "zelda@example.com")
				assert.Equal(t, map[string]any{"email": "zelda@example.com",
					"message": "if an account has this address, a reset token has been sent to it"}, unknown.Body)
				assert.Empty(t, known.Header.Values("Set-Cookie"))

				close(sender.release)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				require.NoError(t, h.Shutdown(ctx))
				if failing {
					assert.Zero(t, sender.count())
					assert.Contains(t, svc.Log.String(), "reset message not delivered")
				} else {
					require.Equal(t, 1, sender.count(), "one message: the known address's")
					assert.Equal(t, "alice@example.com", sender.sent[0].To)
				}
			})
		})
	}
}

// TestResetThrottledAlike: the throttle applies behind the reply. Every
// request gets the same 200, known address or not, over the limit or not;
// the messages sent stop at the limit, and the refusals are logged.
func TestResetThrottledAlike(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		sender := &gateSender{release: make(chan struct{})}
		close(sender.release)
		h, svc := newHandler(t, dsn, authhttp.Options{}, func(c *auth.Config) { c.ResetSender = sender })
		svc.URL = startHandler(t, h)
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-1").Status)
		free := auth.DefaultResetThrottle().FreeFailures
		for range free + 2 {
			known := c.form("POST", "/reset_password", "email", "alice@example.com")
			unknown := c.form("POST", "/reset_password", "email", "zelda@example.com")
			assert.Equal(t, http.StatusOK, known.Status, known.Raw)
			sameResetReply(t, known, unknown, "alice@example.com", "zelda@example.com")
			// One at a time: each request is counted before the next.
			require.NoError(t, h.Shutdown(t.Context()))
		}
		assert.Equal(t, int(free), sender.count(), "the throttle stopped the messages past its limit")
		assert.Contains(t, svc.Log.String(), "reset request throttled")
		assert.NotContains(t, svc.Log.String(), "zelda", "an address that may have no account is never logged")
		r := c.form("POST", "/reset_password", "email", "not an address")
		assert.Equal(t, http.StatusBadRequest, r.Status, "a malformed address is the client's own input")
	})
}

// TestResetRepliesBeforeTheDatabase: the reply to a reset request does not
// wait for the database at all. With the tables the request writes locked
// by another transaction, known and unknown addresses are both answered
// 200; the token is issued and delivered once the lock is gone.
func TestResetRepliesBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		sender := &gateSender{release: make(chan struct{})}
		close(sender.release)
		h, svc := newHandler(t, dsn, authhttp.Options{}, func(c *auth.Config) { c.ResetSender = sender })
		svc.URL = startHandler(t, h)
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-1").Status)

		conn, err := testdb.Raw(t, dsn).Conn(t.Context())
		require.NoError(t, err)
		defer conn.Close()
		lock := "BEGIN IMMEDIATE" // SQLite: the write lock, the whole database
		if strings.HasPrefix(dsn, "postgres") {
			_, err = conn.ExecContext(t.Context(), "BEGIN")
			require.NoError(t, err)
			lock = "LOCK TABLE throttles, password_resets, audit_chain IN ACCESS EXCLUSIVE MODE"
		}
		_, err = conn.ExecContext(t.Context(), lock)
		require.NoError(t, err)
		known := c.form("POST", "/reset_password", "email", "alice@example.com")
		unknown := c.form("POST", "/reset_password", "email", "zelda@example.com")
		assert.Equal(t, http.StatusOK, known.Status, known.Raw)
		sameResetReply(t, known, unknown, "alice@example.com", "zelda@example.com")
		assert.Zero(t, sender.count(), "nothing issued while the tables are locked")
		_, err = conn.ExecContext(t.Context(), "ROLLBACK")
		require.NoError(t, err)

		require.NoError(t, h.Shutdown(t.Context()))
		require.Equal(t, 1, sender.count(), "issued and delivered after the lock")
		assert.Equal(t, "alice@example.com", sender.sent[0].To)
	})
}

// TestResetExposedContract: with ExposeResetToken the service's existing
// contract stays: the token in the reply, 403 for an unknown address.
func TestResetExposedContract(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-1").Status)
		r := c.form("POST", "/reset_password", "email", "alice@example.com")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.NotEmpty(t, r.Body["reset_token"])
		assert.Contains(t, svc.Mail.String(), "To: alice@example.com", "delivered before the reply")
		r = c.form("POST", "/reset_password", "email", "zelda@example.com")
		assert.Equal(t, http.StatusForbidden, r.Status)
		assert.Equal(t, map[string]any{"message": "unknown email"}, r.Body)
	})
}

// TestResetBacklogIsBounded: the issues and deliveries left behind by
// replies are bounded. With a mail server that holds every message, a
// hundred requests for a hundred accounts are answered 200 and hold the
// hundred slots; the next request is refused with the fast 503 and its
// Retry-After, alike for an address with an account and one without, and
// is logged. Once the messages go out, requests are answered 200 again.
func TestResetBacklogIsBounded(t *testing.T) {
	t.Parallel()
	const slots = 100 // authhttp's maxPendingResets
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		sender := &gateSender{release: make(chan struct{})}
		h, svc := newHandler(t, dsn, authhttp.Options{}, func(c *auth.Config) { c.ResetSender = sender })
		svc.URL = startHandler(t, h)
		c := svc.client(t)
		email := func(i int) string { return fmt.Sprintf("user%03d@example.com", i) }
		for i := range slots + 1 {
			_, err := svc.Store.Register(t.Context(), auth.Registration{Email: email(i), Password: "password-1"})
			require.NoError(t, err)
		}
		for i := range slots {
			r := c.form("POST", "/reset_password", "email", email(i))
			require.Equal(t, http.StatusOK, r.Status, "request %d: %s", i, r.Raw)
		}

		known := c.form("POST", "/reset_password", "email", email(slots))
		unknown := c.form("POST", "/reset_password", "email", "zelda00@example.com")
		assert.Equal(t, http.StatusServiceUnavailable, known.Status, known.Raw)
		assert.Equal(t, "server busy, try again shortly", known.Body["message"], known.Raw)
		assert.Equal(t, "2", known.Header.Get("Retry-After"))
		sameResetReply(t, known, unknown, email(slots), "zelda00@example.com")
		assert.Contains(t, svc.Log.String(), "reset request refused: too many being issued")

		close(sender.release)
		require.NoError(t, h.Shutdown(t.Context()))
		assert.Equal(t, slots, sender.count(), "every accepted request delivered, no refused one")
		r := c.form("POST", "/reset_password", "email", email(slots))
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		require.NoError(t, h.Shutdown(t.Context()))
		assert.Equal(t, slots+1, sender.count())
	})
}

// TestResetFloodOneClient: one client flooding POST /reset_password (8
// connections, 300 requests for accounts' addresses, whose messages the
// mail server holds) does not deny resets to everybody else: Options'
// ResetLimit stops it at its limit with 429, so the work a reset leaves
// after its reply stays within bounds, and another client's 30 requests all
// get 200. Without the limit the flood fills that work's 100 slots and the
// other client gets 503 (TestResetBacklogIsBounded).
func TestResetFloodOneClient(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		const flood, mine, workers = 300, 30, 8
		sender := &gateSender{release: make(chan struct{})}
		h, svc := newHandler(t, dsn, authhttp.Options{
			ResetLimit:     authhttp.Limit{N: 30, Per: time.Minute}, // credstore serve's default
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Now:            testdb.NewClock(time.Now()).Now, // the limits refill nothing, however long the test takes
		}, func(c *auth.Config) { c.ResetSender = sender })
		svc.URL = startHandler(t, h)
		t.Cleanup(func() { close(sender.release) }) // before the handler's Shutdown, which waits for the deliveries
		for i := range 100 {
			_, err := svc.Store.Register(t.Context(), auth.Registration{Email: fmt.Sprintf("target%03d@example.com", i), Password: "password-1"})
			require.NoError(t, err)
		}
		_, err := svc.Store.Register(t.Context(), auth.Registration{Email: "me@example.com", Password: "password-1"})
		require.NoError(t, err)

		// reset sends POST /reset_password for email as the client at ip
		// (through the trusted proxy's X-Forwarded-For).
		reset := func(ip, email string) reply {
			return svc.client(t).formWith(http.Header{"X-Forwarded-For": {ip}}, "POST", "/reset_password", "email", email)
		}
		var mu sync.Mutex
		statuses := map[int]int{}
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range jobs {
					r := reset("203.0.113.66", fmt.Sprintf("target%03d@example.com", i%100))
					mu.Lock()
					statuses[r.Status]++
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			for i := range flood {
				jobs <- i
			}
			close(jobs)
		})
		ok := 0
		for range mine {
			r := reset("198.51.100.7", "me@example.com")
			if r.Status == http.StatusOK {
				ok++
			} else {
				t.Logf("my reset request: %d %s", r.Status, r.Raw)
			}
		}
		wg.Wait()
		assert.Equal(t, mine, ok, "every reset request of the other client is answered 200")
		assert.Positive(t, statuses[http.StatusTooManyRequests], "the flood is limited: %v", statuses)
		assert.Zero(t, statuses[http.StatusServiceUnavailable], "the flood never fills the slots: %v", statuses)
		assert.Equal(t, 30, statuses[http.StatusOK], "its limit of 30, then 429: %v", statuses)
	})
}
