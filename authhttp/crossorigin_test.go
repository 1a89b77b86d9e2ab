package authhttp_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// TestCrossOrigin: a browser on another site cannot register, log in (login
// CSRF), log out, or request or perform a reset: 403 JSON, and nothing
// happens. Same-origin browser requests, clients that send neither Origin
// nor Sec-Fetch-Site (curl, the API's clients), and a trusted origin pass.
func TestCrossOrigin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		const trusted = "https://app.example.com"
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true, TrustedOrigins: []string{trusted}})
		ctx := t.Context()
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-a").Status)
		alice, err := svc.Store.UserByEmail(ctx, "alice@example.com")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "alice@example.com", "password", "password-a").Status)
		cookie := c.sessionCookie()
		r := c.form("POST", "/reset_password", "email", "alice@example.com")
		require.Equal(t, http.StatusOK, r.Status)
		token := r.Body["reset_token"].(string)
		svc.delivered(t)
		mailBefore := svc.Mail.String()

		hostile := map[string]http.Header{
			"Origin of another site":               {"Origin": {"https://evil.example"}},
			"Origin null (sandboxed frame)":        {"Origin": {"null"}},
			"Sec-Fetch-Site cross-site":            {"Sec-Fetch-Site": {"cross-site"}},
			"Sec-Fetch-Site same-site":             {"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://sibling.example.com"}},
			"cross-site with the host as Origin":   {"Sec-Fetch-Site": {"cross-site"}, "Origin": {svc.URL}},
			"trusted origin over plain http":       {"Origin": {"http://app.example.com"}},
			"trusted origin's subdomain":           {"Origin": {"https://evil.app.example.com"}},
			"Origin of another site, port differs": {"Origin": {"http://127.0.0.1:1"}},
		}
		for name, h := range hostile {
			t.Run(name, func(t *testing.T) {
				refused := func(r reply) {
					t.Helper()
					assert.Equal(t, http.StatusForbidden, r.Status, r.Raw)
					assert.Equal(t, map[string]any{"message": "cross-origin request refused"}, r.Body)
					assert.Empty(t, r.Header.Values("Set-Cookie"))
				}
				refused(c.formWith(h, "POST", "/users", "email", "mallory@example.com", "password", "password-m"))
				_, err := svc.Store.UserByEmail(ctx, "mallory@example.com")
				assert.ErrorIs(t, err, auth.ErrNotFound, "no account")

				before, err := svc.Store.ListSessions(ctx, alice.ID)
				require.NoError(t, err)
				refused(svc.client(t).formWith(h, "POST", "/sessions", "email", "alice@example.com", "password", "password-a"))
				after, err := svc.Store.ListSessions(ctx, alice.ID)
				require.NoError(t, err)
				assert.Len(t, after, len(before), "no session")

				req, err := http.NewRequest("DELETE", svc.URL+"/sessions", nil)
				require.NoError(t, err)
				req.Header = h.Clone()
				req.Header.Set("Cookie", authhttp.DefaultCookieName+"="+cookie)
				refused(c.do(req))
				assert.Equal(t, http.StatusOK, c.withCookie("GET", "/profile", cookie).Status, "still logged in")

				refused(c.formWith(h, "POST", "/reset_password", "email", "alice@example.com"))
				svc.delivered(t)
				assert.Equal(t, mailBefore, svc.Mail.String(), "no reset message")
				refused(c.formWith(h, "PUT", "/reset_password", "email", "alice@example.com", "reset_token", token, "new_password", "password-m"))
				_, err = svc.Store.Login(ctx, "alice@example.com", "password-a")
				assert.NoError(t, err, "the password is unchanged")
			})
		}

		t.Run("safe methods pass", func(t *testing.T) {
			r := c.formWith(http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, "GET", "/")
			assert.Equal(t, http.StatusOK, r.Status)
		})

		friendly := []struct {
			name string
			h    http.Header
		}{
			{"no Origin, no Sec-Fetch-Site", nil},
			{"same origin", http.Header{"Origin": {svc.URL}}},
			{"Sec-Fetch-Site same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {svc.URL}}},
			{"Sec-Fetch-Site none (typed by the user)", http.Header{"Sec-Fetch-Site": {"none"}}},
			{"trusted origin", http.Header{"Origin": {trusted}}},
			{"trusted origin, cross-site", http.Header{"Origin": {trusted}, "Sec-Fetch-Site": {"cross-site"}}},
		}
		for i, tc := range friendly {
			t.Run(tc.name, func(t *testing.T) {
				email := string(rune('a'+i)) + "-friend@example.com"
				cl := svc.client(t)
				assert.Equal(t, http.StatusOK, cl.formWith(tc.h, "POST", "/users", "email", email, "password", "password-f").Status)
				r := cl.formWith(tc.h, "POST", "/sessions", "email", email, "password", "password-f")
				assert.Equal(t, http.StatusOK, r.Status)
				assert.NotEmpty(t, r.Header.Values("Set-Cookie"))
				assert.Equal(t, http.StatusFound, cl.formWith(tc.h, "DELETE", "/sessions").Status)
				r = cl.formWith(tc.h, "POST", "/reset_password", "email", email)
				require.Equal(t, http.StatusOK, r.Status)
				r = cl.formWith(tc.h, "PUT", "/reset_password", "email", email, "reset_token", r.Body["reset_token"].(string), "new_password", "password-g")
				assert.Equal(t, http.StatusOK, r.Status, r.Raw)
			})
		}
		assertNoSecrets(t, svc.Log.String(), "password-a", "password-m", token, cookie)
	})
}

// TestNewRefusesBadTrustedOrigin: an origin is a scheme and a host, nothing
// more; a mistyped one is an error at start, not a silent hole.
func TestNewRefusesBadTrustedOrigin(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"app.example.com", "https://app.example.com/", "https://app.example.com/login", "https://"} {
		_, err := authhttp.New(nil, authhttp.Options{TrustedOrigins: []string{o}})
		assert.Error(t, err, o)
	}
}
