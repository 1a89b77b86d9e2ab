package authhttp_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// testThrottle is a login throttle that bites after two failures, for a
// minute or more: long enough that the store's clock, which tests move by
// hand, never lets it lapse.
var testThrottle = auth.ThrottlePolicy{FreeFailures: 2, BaseDelay: time.Minute, MaxDelay: time.Hour, DailyFailures: 20}

// TestThrottledLogin: once auth throttles an account, its logins get 429
// with Retry-After and the same body whether the account exists or not,
// the right password included; the owner's browser, holding the device
// cookie of an earlier login, still logs in.
func TestThrottledLogin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{}, func(c *auth.Config) { c.LoginThrottle = testThrottle })
		const email, pass = "alice@example.com", "password-a"
		owner := svc.client(t)
		require.Equal(t, http.StatusOK, owner.form("POST", "/users", "email", email, "password", pass).Status)
		require.Equal(t, http.StatusOK, owner.form("POST", "/sessions", "email", email, "password", pass).Status)

		// failUntilThrottled fails logins of identifier until one is
		// throttled, and returns that reply and the failures it took.
		failUntilThrottled := func(identifier string) (reply, int) {
			attacker := svc.client(t)
			for i := range 50 {
				r := attacker.form("POST", "/sessions", "email", identifier, "password", "wrong-password")
				if r.Status != http.StatusUnauthorized {
					return r, i
				}
				assert.Equal(t, map[string]any{"message": "invalid email or password"}, r.Body)
			}
			t.Fatalf("%s: never throttled", identifier)
			return reply{}, 0
		}
		known, knownFailures := failUntilThrottled(email)
		unknown, unknownFailures := failUntilThrottled("nobody@example.com")
		for _, r := range []reply{known, unknown} {
			require.Equal(t, http.StatusTooManyRequests, r.Status, r.Raw)
			secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, secs, 60)
			assert.Equal(t, map[string]any{"message": "too many attempts, try again later", "retry_after": float64(secs)}, r.Body)
			assert.Empty(t, r.Header.Values("Set-Cookie"))
		}
		assert.Equal(t, knownFailures, unknownFailures, "an account that exists is throttled like one that does not")
		assert.Equal(t, known.Raw, unknown.Raw, "the same reply for both")
		assert.Equal(t, known.Header.Get("Retry-After"), unknown.Header.Get("Retry-After"))

		r := svc.client(t).form("POST", "/sessions", "email", email, "password", pass)
		assert.Equal(t, http.StatusTooManyRequests, r.Status, "the right password, without the device cookie: %s", r.Raw)

		require.NotEmpty(t, owner.deviceCookie(), "the owner's first login set the device cookie")
		r = owner.form("POST", "/sessions", "email", email, "password", pass)
		assert.Equal(t, http.StatusOK, r.Status, "the owner's browser logs in: %s", r.Raw)
	})
}
