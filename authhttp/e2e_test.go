package authhttp_test

import (
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
)

// TestFlow walks the whole API in the order, over a real socket
// with a cookie jar.
func TestFlow(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.client(t)
		const email, pass, newPass = "bob@bob.com", "mySuperPwd", "t4rt1fl3tt3"

		r := c.form("GET", "/")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"message": "Bienvenue"}, r.Body)

		r = c.form("POST", "/users", "email", email, "password", pass)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"email": email, "message": "user created"}, r.Body)

		r = c.form("POST", "/users", "email", email, "password", pass)
		assert.Equal(t, http.StatusBadRequest, r.Status, "duplicate")
		assert.Equal(t, map[string]any{"message": "email already registered"}, r.Body)

		r = c.form("POST", "/sessions", "email", email, "password", "wrong-password")
		assert.Equal(t, http.StatusUnauthorized, r.Status, "wrong password")
		assert.Empty(t, r.Header.Values("Set-Cookie"))

		r = c.form("GET", "/profile")
		assert.Equal(t, http.StatusForbidden, r.Status, "profile without a cookie")

		r = c.form("POST", "/sessions", "email", email, "password", pass)
		require.Equal(t, http.StatusOK, r.Status, "log in: %s", r.Raw)
		assert.Equal(t, map[string]any{"email": email, "message": "logged in"}, r.Body)
		setCookie := r.Header.Get("Set-Cookie")
		for _, attr := range []string{"session_id=", "Path=/", "HttpOnly", "SameSite=Lax"} {
			assert.Contains(t, setCookie, attr)
		}
		assert.NotContains(t, setCookie, "Secure", "without -secure-cookies")
		session := c.sessionCookie()
		require.NotEmpty(t, session)

		r = c.form("GET", "/profile")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"email": email, "totp_enabled": false, "recovery_codes_left": float64(0)}, r.Body)

		r = c.form("DELETE", "/sessions")
		assert.Equal(t, http.StatusFound, r.Status, "log out")
		assert.Equal(t, "/", r.Header.Get("Location"))
		assert.Equal(t, map[string]any{"message": "logged out"}, r.Body)
		assert.Empty(t, c.sessionCookie(), "the cookie is cleared")

		r = c.form("GET", "/profile")
		assert.Equal(t, http.StatusForbidden, r.Status, "profile after logout")
		r = c.withCookie("GET", "/profile", session)
		assert.Equal(t, http.StatusForbidden, r.Status, "the old cookie after logout")
		r = c.withCookie("DELETE", "/sessions", session)
		assert.Equal(t, http.StatusForbidden, r.Status, "logging out twice")

		r = c.form("POST", "/reset_password", "email", email)
		require.Equal(t, http.StatusOK, r.Status, "reset token: %s", r.Raw)
		token, _ := r.Body["reset_token"].(string)
		require.NotEmpty(t, token)
		assert.Equal(t, map[string]any{"email": email, "reset_token": token}, r.Body)

		wrong := "A" + token[1:] // well formed, one character off
		if token[0] == 'A' {
			wrong = "B" + token[1:]
		}
		r = c.form("PUT", "/reset_password", "email", email, "reset_token", wrong, "new_password", newPass)
		assert.Equal(t, http.StatusForbidden, r.Status, "wrong token")

		r = c.form("PUT", "/reset_password", "email", email, "reset_token", token, "new_password", newPass)
		assert.Equal(t, http.StatusOK, r.Status, "update: %s", r.Raw)
		assert.Equal(t, map[string]any{"email": email, "message": "Password updated"}, r.Body)

		r = c.form("PUT", "/reset_password", "email", email, "reset_token", token, "new_password", "yet-another-one")
		assert.Equal(t, http.StatusForbidden, r.Status, "reuse of the spent token")

		r = c.form("POST", "/sessions", "email", email, "password", newPass)
		assert.Equal(t, http.StatusOK, r.Status, "log in with the new password")
		r = c.form("POST", "/sessions", "email", email, "password", pass)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "the old password is refused")

		assertNoSecrets(t, svc.Log.String(), pass, newPass, token, session)
	})
}

// assertNoSecrets checks that the server's log holds none of secrets.
func assertNoSecrets(t *testing.T, log string, secrets ...string) {
	t.Helper()
	require.NotEmpty(t, log, "the server logged its requests")
	for _, s := range secrets {
		assert.NotContains(t, log, s, "a secret in the server log")
	}
}

func TestResetMessageWithoutExposure(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{Cookie: authhttp.CookieOptions{Secure: true}})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "a@example.com", "password", "password-1").Status)

		r := c.form("POST", "/sessions", "email", "a@example.com", "password", "password-1")
		require.Equal(t, http.StatusOK, r.Status)
		assert.Contains(t, r.Header.Get("Set-Cookie"), "Secure", "with -secure-cookies")

		r = c.form("POST", "/reset_password", "email", "a@example.com")
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "a@example.com", r.Body["email"])
		assert.NotContains(t, r.Body, "reset_token")
		// The message is delivered after the reply.
		svc.delivered(t)
		mail := svc.Mail.String()
		assert.Contains(t, mail, "To: a@example.com")
		i := strings.Index(mail, "\n    ")
		require.Positive(t, i, "the message carries the token: %s", mail)
		token := strings.TrimSpace(mail[i : i+4+44])
		r = c.form("PUT", "/reset_password", "email", "a@example.com", "reset_token", token, "new_password", "password-2")
		assert.Equal(t, http.StatusOK, r.Status, "the printed token works: %s", r.Raw)
		assertNoSecrets(t, svc.Log.String(), token, "password-1", "password-2")
	})
}

// TestResetEndsSessions: after a reset, a cookie from before is refused.
func TestResetEndsSessions(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "a@example.com", "password", "password-1").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "a@example.com", "password", "password-1").Status)
		require.Equal(t, http.StatusOK, c.form("GET", "/profile").Status)

		other := svc.client(t) // the reset is done from another device
		r := other.form("POST", "/reset_password", "email", "a@example.com")
		require.Equal(t, http.StatusOK, r.Status)
		r = other.form("PUT", "/reset_password", "email", "a@example.com", "reset_token", r.Body["reset_token"].(string), "new_password", "password-2")
		require.Equal(t, http.StatusOK, r.Status)

		assert.Equal(t, http.StatusForbidden, c.form("GET", "/profile").Status, "the old cookie after a reset")
	})
}

// TestSessionLimits: past its idle timeout or absolute lifetime, on the
// store's injected clock, a session's cookie gets 403.
func TestSessionLimits(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{}, func(c *auth.Config) {
			c.SessionLifetime = 3 * time.Hour
			c.SessionIdleTimeout = time.Hour
		})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "a@example.com", "password", "password-1").Status)
		login := func() {
			t.Helper()
			require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "a@example.com", "password", "password-1").Status)
		}

		login()
		svc.Clock.Advance(59 * time.Minute)
		assert.Equal(t, http.StatusOK, c.form("GET", "/profile").Status, "used within the idle timeout")
		svc.Clock.Advance(time.Hour)
		assert.Equal(t, http.StatusForbidden, c.form("GET", "/profile").Status, "idle for an hour")

		login()
		for range 5 { // active every 35 minutes: never idle...
			svc.Clock.Advance(35 * time.Minute)
			require.Equal(t, http.StatusOK, c.form("GET", "/profile").Status)
		}
		svc.Clock.Advance(5 * time.Minute) // ...but 3 hours old
		assert.Equal(t, http.StatusForbidden, c.form("GET", "/profile").Status, "past the absolute lifetime")
	})
}

// TestConcurrentResetTokenUse sends two PUT /reset_password with one token
// at once, several times: exactly one 200 each time.
func TestConcurrentResetTokenUse(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "a@example.com", "password", "password-1").Status)
		for round := range 5 {
			r := c.form("POST", "/reset_password", "email", "a@example.com")
			require.Equal(t, http.StatusOK, r.Status)
			token := r.Body["reset_token"].(string)
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range statuses {
				cl := svc.client(t)
				wg.Go(func() {
					<-start
					statuses[i] = cl.form("PUT", "/reset_password", "email", "a@example.com", "reset_token", token, "new_password", "password-x").Status
				})
			}
			close(start)
			wg.Wait()
			assert.ElementsMatch(t, []int{http.StatusOK, http.StatusForbidden}, statuses, "round %d", round)
		}
	})
}
