package authhttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
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

// TestTossedSessionCookie: a valid session cookie of another user (the
// attacker's, planted from a sibling subdomain ahead of the victim's) does
// not make the request the attacker's, nor the victim's: a request that
// carries live sessions of two users is answered as unauthenticated, on
// both dialects, and logged. Two sessions of one user are fine.
func TestTossedSessionCookie(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		h, svc := newHandler(t, dsn, authhttp.Options{})
		mux := http.NewServeMux()
		mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
		mux.Handle("/", h)
		svc.URL = startHandlerOn(t, h, mux)
		login := func(email, password string) string {
			c := svc.client(t)
			require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", password).Status)
			require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", email, "password", password).Status)
			return c.sessionCookie()
		}
		victim := login("victim@example.com", "password-v")
		victim2 := func() string {
			c := svc.client(t)
			require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "victim@example.com", "password", "password-v").Status)
			return c.sessionCookie()
		}()
		attacker := login("mallory@example.com", "password-m")
		c := svc.client(t)

		for _, tc := range []struct {
			name    string
			cookies []string
			want    string // the email answered, "" for none
		}{
			{"the attacker's first", []string{attacker, victim}, ""},
			{"the victim's first", []string{victim, attacker}, ""},
			{"behind a dead one", []string{"planted", attacker, victim}, ""},
			{"two of the victim's", []string{victim2, victim}, "victim@example.com"},
			{"the victim's alone", []string{victim}, "victim@example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.withCookies("GET", "/profile", tc.cookies...)
				me := c.withCookies("GET", "/api/v1/me", tc.cookies...)
				if tc.want == "" {
					assert.Equal(t, http.StatusForbidden, r.Status, r.Raw)
					assert.Equal(t, http.StatusUnauthorized, me.Status, me.Raw)
					return
				}
				assert.Equal(t, http.StatusOK, r.Status, r.Raw)
				assert.Equal(t, tc.want, r.Body["email"])
				assert.Equal(t, http.StatusOK, me.Status, me.Raw)
				assert.Equal(t, tc.want, me.Body["email"])
			})
		}
		assert.Contains(t, svc.Log.String(), "session cookies of two users; treated as unauthenticated")
		assertNoSecrets(t, svc.Log.String(), victim, victim2, attacker)
	})
}

// TestHostPrefixedCookie: with CookieOptions.Name "__Host-session_id" the
// session cookie is set Secure, with Path=/ and no Domain, as browsers
// require of the prefix, and is the one read; a plain session_id is
// ignored. New refuses the prefixes without what they need.
func TestHostPrefixedCookie(t *testing.T) {
	t.Parallel()
	for _, bad := range []authhttp.CookieOptions{
		{Name: "__Host-session_id"},
		{Name: "__Host-session_id", Secure: true, Domain: "example.com"},
		{Name: "__Host-session_id", Secure: true, Path: "/auth/"},
		{Name: "__Secure-session_id"},
	} {
		s := authtestStore(t)
		_, err := authhttp.New(s, authhttp.Options{Cookie: bad})
		assert.Error(t, err, "%+v", bad)
	}
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		const name = "__Host-session_id"
		svc := startService(t, dsn, authhttp.Options{Cookie: authhttp.CookieOptions{Name: name, Secure: true}})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "hal@example.com", "password", "password-h").Status)
		r := c.form("POST", "/sessions", "email", "hal@example.com", "password", "password-h")
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		var session *http.Cookie
		for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
			if ck.Name == name {
				session = ck
			}
		}
		require.NotNil(t, session, "Set-Cookie: %v", r.Header.Values("Set-Cookie"))
		assert.True(t, session.Secure)
		assert.Equal(t, "/", session.Path)
		assert.Empty(t, session.Domain)

		get := func(cookie string) reply {
			req, err := http.NewRequest("GET", svc.URL+"/profile", nil)
			require.NoError(t, err)
			req.Header.Set("Cookie", cookie)
			bare := &client{t: t, base: svc.URL, http: &http.Client{}} // no jar
			return bare.do(req)
		}
		ok := get(name + "=" + session.Value)
		assert.Equal(t, http.StatusOK, ok.Status, ok.Raw)
		assert.Equal(t, "hal@example.com", ok.Body["email"])
		assert.Equal(t, http.StatusForbidden, get(authhttp.DefaultCookieName+"="+session.Value).Status, "the plain name is not read")
	})
}

// authtestStore is a private in-memory store for tests that need one but
// no engine.
func authtestStore(t *testing.T) *auth.Store {
	t.Helper()
	s, err := auth.OpenMemory(context.Background(), auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}
