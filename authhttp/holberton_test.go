package authhttp_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// TestLogoutTossedSessionCookie: DELETE /sessions finds its session as
// every other route does, so a request that carries live sessions of two
// users (one planted ahead of the other) ends neither: 403, and both
// sessions still answer. One user's live session behind dead cookies is
// the one that ends.
func TestLogoutTossedSessionCookie(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		login := func(email, password string) string {
			c := svc.client(t)
			require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", password).Status)
			require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", email, "password", password).Status)
			return c.sessionCookie()
		}
		victim, attacker := login("victim@example.com", "password-v"), login("mallory@example.com", "password-m")
		c := svc.client(t)

		r := c.withCookies("DELETE", "/sessions", attacker, victim)
		assert.Equal(t, http.StatusForbidden, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "no valid session"}, r.Body)
		assert.Equal(t, http.StatusOK, c.withCookies("GET", "/profile", victim).Status, "the victim's session lives")
		assert.Equal(t, http.StatusOK, c.withCookies("GET", "/profile", attacker).Status, "and the attacker's")

		assert.Equal(t, http.StatusFound, c.withCookies("DELETE", "/sessions", "planted", victim).Status)
		assert.Equal(t, http.StatusForbidden, c.withCookies("GET", "/profile", victim).Status, "the victim's session ended")
		assertNoSecrets(t, svc.Log.String(), victim, attacker)
	})
}
