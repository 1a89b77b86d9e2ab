package authhttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// from sends a form to h as if from the peer remote, with an optional
// X-Forwarded-For.
func from(h http.Handler, remote, forwarded, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if forwarded != "" {
		r.Header.Set("X-Forwarded-For", forwarded)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// assertTooMany checks a 429 of the per-IP limits: Retry-After and the
// same body as auth's throttle.
func assertTooMany(t *testing.T, w *httptest.ResponseRecorder, retryAfter int) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	assert.Equal(t, strconv.Itoa(retryAfter), w.Header().Get("Retry-After"))
	assert.JSONEq(t, fmt.Sprintf(`{"message":"too many attempts, try again later","retry_after":%d}`, retryAfter), w.Body.String())
}

// TestPerIPLimitsOffByDefault: without LoginLimit and RegisterLimit one
// address may log in and register as often as it likes.
func TestPerIPLimitsOffByDefault(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		h, _ := newHandler(t, dsn, authhttp.Options{})
		for i := range 30 {
			w := from(h, "198.51.100.1:4711", "", "POST", "/sessions", "email=nobody&password=x")
			require.Equal(t, http.StatusUnauthorized, w.Code, "login %d: %s", i, w.Body)
			w = from(h, "198.51.100.1:4711", "", "POST", "/users", "email=not-an-address&password=x")
			require.Equal(t, http.StatusBadRequest, w.Code, "registration %d: %s", i, w.Body)
		}
	})
}

// TestPerIPLimits: with a limit of N per period, the N+1th request of one
// address within the period is 429 with Retry-After (before its body is
// read: an unsupported body is not even looked at), while another address
// still passes; behind a trusted proxy the address is X-Forwarded-For's
// client, and without one the header changes nothing.
func TestPerIPLimits(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		h, svc := newHandler(t, dsn, authhttp.Options{
			LoginLimit:     authhttp.Limit{N: 3, Per: time.Minute},
			RegisterLimit:  authhttp.Limit{N: 2, Per: time.Hour},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		})
		const login, register = "email=nobody&password=x", "email=not-an-address&password=x"

		t.Run("login", func(t *testing.T) {
			for i := range 3 {
				w := from(h, "198.51.100.1:4711", "", "POST", "/sessions", login)
				require.Equal(t, http.StatusUnauthorized, w.Code, "login %d: %s", i, w.Body)
			}
			assertTooMany(t, from(h, "198.51.100.1:4711", "", "POST", "/sessions", login), 20)
			assertTooMany(t, from(h, "198.51.100.1:5000", "", "POST", "/sessions", login), 20) // another port
			w := from(h, "198.51.100.1:4711", "", "POST", "/sessions", strings.Repeat("x", 1<<20))
			assertTooMany(t, w, 20) // not 415 nor 413: the body was never read
			assertTooMany(t, from(h, "198.51.100.1:4711", "203.0.113.1", "POST", "/sessions", login), 20)
			assert.Equal(t, http.StatusUnauthorized, from(h, "198.51.100.2:4711", "", "POST", "/sessions", login).Code, "another address")
			assert.Equal(t, http.StatusForbidden, from(h, "198.51.100.1:4711", "", "GET", "/profile", "").Code, "other routes are not limited")
		})

		t.Run("register", func(t *testing.T) {
			for i := range 2 {
				w := from(h, "198.51.100.1:4711", "", "POST", "/users", register)
				require.Equal(t, http.StatusBadRequest, w.Code, "registration %d: %s", i, w.Body)
			}
			assertTooMany(t, from(h, "198.51.100.1:4711", "", "POST", "/users", register), 1800)
			assert.Equal(t, http.StatusBadRequest, from(h, "198.51.100.2:4711", "", "POST", "/users", register).Code,
				"another address, and a count apart from logins")
		})

		t.Run("behind a trusted proxy", func(t *testing.T) {
			for i := range 3 {
				w := from(h, "10.0.0.1:80", "203.0.113.7", "POST", "/sessions", login)
				require.Equal(t, http.StatusUnauthorized, w.Code, "login %d: %s", i, w.Body)
			}
			assertTooMany(t, from(h, "10.0.0.2:80", "203.0.113.7", "POST", "/sessions", login), 20)
			assertTooMany(t, from(h, "10.0.0.1:80", "1.2.3.4, 203.0.113.7, 10.0.0.9", "POST", "/sessions", login), 20)
			assert.Equal(t, http.StatusUnauthorized, from(h, "10.0.0.1:80", "203.0.113.8", "POST", "/sessions", login).Code,
				"another client of the same proxy")
		})

		t.Run("IPv6 by /64", func(t *testing.T) {
			for i := range 3 {
				w := from(h, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "", "POST", "/sessions", login)
				require.Equal(t, http.StatusUnauthorized, w.Code, "login %d: %s", i, w.Body)
			}
			assertTooMany(t, from(h, "[2001:db8:1:2::99]:443", "", "POST", "/sessions", login), 20)
			assert.Equal(t, http.StatusUnauthorized, from(h, "[2001:db8:1:3::1]:443", "", "POST", "/sessions", login).Code)
		})
		assert.Contains(t, svc.Log.String(), `"status":429`, "the access log records refusals")
		assert.NotContains(t, svc.Log.String(), `"level":"ERROR"`)
	})
}

// TestPerIPLimitsInvalid: a limit without a period is refused at start.
func TestPerIPLimitsInvalid(t *testing.T) {
	t.Parallel()
	_, err := authhttp.New(nil, authhttp.Options{LoginLimit: authhttp.Limit{N: 5}})
	assert.Error(t, err)
	_, err = authhttp.New(nil, authhttp.Options{RegisterLimit: authhttp.Limit{N: 5, Per: time.Minute, Burst: -1}})
	assert.Error(t, err)
}

// TestTokenGrantCountsOnce: every grant of POST /api/v1/token is one
// request of the login limit; the password grant used to take two, so a
// client got half the logins the limit promised.
func TestTokenGrantCountsOnce(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		h, _ := newHandler(t, dsn, authhttp.Options{LoginLimit: authhttp.Limit{N: 3, Per: time.Minute}})
		const grant = "grant_type=password&username=nobody%40example.com&password=x"
		for i := range 3 {
			w := from(h.V1(), "198.51.100.1:4711", "", "POST", "/token", grant)
			require.NotEqual(t, http.StatusTooManyRequests, w.Code, "grant %d: %s", i+1, w.Body)
		}
		w := from(h.V1(), "198.51.100.1:4711", "", "POST", "/token", grant)
		require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	})
}
