package authhttp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// withCookies sends a request whose Cookie header carries one session_id
// per value, in order, as a browser holding several would.
func (c *client) withCookies(method, path string, values ...string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	require.NoError(c.t, err)
	pairs := make([]string, len(values))
	for i, v := range values {
		pairs[i] = authhttp.DefaultCookieName + "=" + v
	}
	req.Header.Set("Cookie", strings.Join(pairs, "; "))
	return (&client{t: c.t, base: c.base, http: &http.Client{CheckRedirect: c.http.CheckRedirect}}).do(req)
}

// TestSeveralSessionCookies: a session_id planted before the user's own
// (by a sibling subdomain, or for a longer path) does not lock them out:
// the first cookie naming a live session wins, up to four.
func TestSeveralSessionCookies(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-a").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "alice@example.com", "password", "password-a").Status)
		dead := c.sessionCookie()
		require.Equal(t, http.StatusFound, c.form("DELETE", "/sessions").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "alice@example.com", "password", "password-a").Status)
		good := c.sessionCookie()
		malformed, unknown := "planted", strings.Repeat("A", 43)

		for _, tc := range []struct {
			name    string
			cookies []string
			status  int
		}{
			{"a malformed cookie first", []string{malformed, good}, http.StatusOK},
			{"an unknown cookie first", []string{unknown, good}, http.StatusOK},
			{"a logged-out session first", []string{dead, good}, http.StatusOK},
			{"three bad ones first", []string{malformed, unknown, dead, good}, http.StatusOK},
			{"the good one first", []string{good, malformed}, http.StatusOK},
			{"only bad ones", []string{malformed, unknown, dead}, http.StatusForbidden},
			{"the good one fifth: past the bound", []string{malformed, unknown, dead, malformed, good}, http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.withCookies("GET", "/profile", tc.cookies...)
				assert.Equal(t, tc.status, r.Status, r.Raw)
				if tc.status == http.StatusOK {
					assert.Equal(t, "alice@example.com", r.Body["email"])
				}
			})
		}

		t.Run("log out", func(t *testing.T) {
			assert.Equal(t, http.StatusForbidden, c.withCookies("DELETE", "/sessions", malformed, dead).Status, "only bad ones")
			assert.Equal(t, http.StatusOK, c.withCookies("GET", "/profile", good).Status)
			assert.Equal(t, http.StatusFound, c.withCookies("DELETE", "/sessions", malformed, unknown, good).Status)
			assert.Equal(t, http.StatusForbidden, c.withCookies("GET", "/profile", good).Status, "the good session is the one that ended")
		})
		assertNoSecrets(t, svc.Log.String(), good, dead, "password-a")
	})
}
