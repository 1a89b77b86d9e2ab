package authhttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// newApp is a small application written as an importer writes one: its
// own mux, credstore's routes mounted under /auth/, its own routes behind
// RequireUser and RequireAdmin, one that anyone may call, and one that
// answers auth's errors with WriteError. The whole mux is behind
// Authenticate. notes counts the calls of POST /notes.
func newApp(t *testing.T, dsn string) (svc *service, notes *int) {
	t.Helper()
	h, svc := newHandler(t, dsn, authhttp.Options{})
	notes = new(int)
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", h))
	mux.Handle("GET /me", h.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authhttp.CurrentUser(r.Context())
		s, _ := authhttp.CurrentSession(r.Context())
		writeTestJSON(w, map[string]any{"email": u.Email, "session_user": s.UserID == u.ID})
	})))
	mux.Handle("POST /notes", h.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*notes++
		u, _ := authhttp.CurrentUser(r.Context())
		writeTestJSON(w, map[string]any{"email": u.Email})
	})))
	mux.Handle("GET /admin/stats", h.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeTestJSON(w, map[string]any{"users": "many"})
	})))
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "anonymous"
		if u, ok := authhttp.CurrentUser(r.Context()); ok {
			name = u.Email
		}
		writeTestJSON(w, map[string]any{"hello": name})
	})
	mux.Handle("GET /hello", hello)
	mux.Handle("POST /hello", hello)
	mux.HandleFunc("GET /users/{email}", func(w http.ResponseWriter, r *http.Request) {
		u, err := svc.Store.UserByEmail(r.Context(), r.PathValue("email"))
		if err != nil {
			authhttp.WriteError(w, r, err)
			return
		}
		writeTestJSON(w, map[string]any{"email": u.Email})
	})
	srv := httptest.NewServer(h.Authenticate(mux))
	t.Cleanup(srv.Close)
	svc.URL = srv.URL
	return svc, notes
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// withAuth sends a request with an Authorization header, and a session
// cookie when cookie is not "", and nothing from the jar.
func (c *client) withAuth(method, path, authorization, cookie string, header http.Header) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	require.NoError(c.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if cookie != "" {
		req.Header.Set("Cookie", authhttp.DefaultCookieName+"="+cookie)
	}
	saved := c.http
	c.http = &http.Client{CheckRedirect: saved.CheckRedirect}
	defer func() { c.http = saved }()
	return c.do(req)
}

// TestImporterApp: credstore's routes under a prefix and the middleware on
// the application's routes, on a real socket.
func TestImporterApp(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc, notes := newApp(t, dsn)
		ctx := t.Context()
		alice, bob := svc.client(t), svc.client(t)
		for _, u := range []struct {
			c     *client
			email string
		}{{alice, "alice@example.com"}, {bob, "bob@example.com"}} {
			r := u.c.form("POST", "/auth/users", "email", u.email, "password", "password-1")
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
		}
		bobUser, err := svc.Store.UserByEmail(ctx, "bob@example.com")
		require.NoError(t, err)
		admin := true
		_, err = svc.Store.UpdateUser(ctx, bobUser.ID, auth.UserUpdate{IsAdmin: &admin})
		require.NoError(t, err)
		for _, u := range []struct {
			c     *client
			email string
		}{{alice, "alice@example.com"}, {bob, "bob@example.com"}} {
			r := u.c.form("POST", "/auth/sessions", "email", u.email, "password", "password-1")
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Contains(t, r.Header.Get("Set-Cookie"), "Path=/;", "the cookie reaches the application's routes")
		}
		aliceToken, bobToken := alice.sessionCookie(), bob.sessionCookie()
		require.NotEmpty(t, aliceToken)

		t.Run("the service under its prefix", func(t *testing.T) {
			r := alice.form("GET", "/auth/")
			assert.Equal(t, map[string]any{"message": "Bienvenue"}, r.Body)
			r = alice.form("GET", "/auth/profile")
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, "alice@example.com", r.Body["email"])
			r = alice.form("GET", "/auth/nowhere")
			assert.Equal(t, http.StatusNotFound, r.Status)
			assert.Equal(t, map[string]any{"message": "not found"}, r.Body)
			r = alice.form("PATCH", "/auth/profile")
			assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
			assert.Equal(t, "GET, HEAD", r.Header.Get("Allow"))
			assert.Equal(t, map[string]any{"message": "method not allowed"}, r.Body)
		})

		t.Run("RequireUser", func(t *testing.T) {
			r := alice.form("GET", "/me")
			assert.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Equal(t, map[string]any{"email": "alice@example.com", "session_user": true}, r.Body)
			anon := svc.client(t)
			r = anon.form("GET", "/me")
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, map[string]any{"message": "authentication required"}, r.Body)
			r = anon.withCookie("GET", "/me", "not-a-session")
			assert.Equal(t, http.StatusUnauthorized, r.Status, "an invalid cookie")
		})

		t.Run("optional authentication", func(t *testing.T) {
			assert.Equal(t, map[string]any{"hello": "alice@example.com"}, alice.form("GET", "/hello").Body)
			assert.Equal(t, map[string]any{"hello": "anonymous"}, svc.client(t).form("GET", "/hello").Body)
			r := svc.client(t).withCookie("GET", "/hello", "expired-or-forged")
			assert.Equal(t, http.StatusOK, r.Status, "a bad token on an optional route is anonymous")
			assert.Equal(t, map[string]any{"hello": "anonymous"}, r.Body)
		})

		t.Run("RequireAdmin", func(t *testing.T) {
			r := alice.form("GET", "/admin/stats")
			assert.Equal(t, http.StatusForbidden, r.Status)
			assert.Equal(t, map[string]any{"message": "administrator required"}, r.Body)
			assert.Equal(t, http.StatusUnauthorized, svc.client(t).form("GET", "/admin/stats").Status)
			r = bob.form("GET", "/admin/stats")
			assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		})

		t.Run("bearer token without a cookie", func(t *testing.T) {
			c := svc.client(t)
			r := c.withAuth("GET", "/me", "Bearer "+aliceToken, "", nil)
			assert.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Equal(t, "alice@example.com", r.Body["email"])
			r = c.withAuth("GET", "/me", "bearer "+aliceToken, "", nil)
			assert.Equal(t, http.StatusOK, r.Status, "the scheme is case-insensitive")
			r = c.withAuth("GET", "/auth/profile", "Bearer "+aliceToken, "", nil)
			assert.Equal(t, http.StatusOK, r.Status, "the service's routes take it too")
			r = c.withAuth("GET", "/me", "Bearer nonsense", "", nil)
			assert.Equal(t, http.StatusUnauthorized, r.Status)
		})

		t.Run("a bearer token and a cookie", func(t *testing.T) {
			c := svc.client(t)
			r := c.withAuth("GET", "/me", "Bearer "+bobToken, aliceToken, nil)
			assert.Equal(t, "bob@example.com", r.Body["email"], "the token the client chose wins")
			r = c.withAuth("GET", "/me", "Bearer nonsense", aliceToken, nil)
			assert.Equal(t, http.StatusUnauthorized, r.Status, "an invalid bearer never falls back to the cookie")
			r = c.withAuth("GET", "/me", "Basic YWxpY2U6cHc=", aliceToken, nil)
			assert.Equal(t, http.StatusOK, r.Status, "another scheme leaves the cookie in charge")
			assert.Equal(t, "alice@example.com", r.Body["email"])
		})

		t.Run("cross-origin requests", func(t *testing.T) {
			evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
			before := *notes
			r := alice.formWith(evil, "POST", "/notes", "text", "hi")
			assert.Equal(t, http.StatusForbidden, r.Status, "a cookie-authenticated forgery: %s", r.Raw)
			assert.Equal(t, map[string]any{"message": "cross-origin request refused"}, r.Body)
			assert.Equal(t, before, *notes, "the handler never ran")

			r = alice.withAuth("POST", "/notes", "", aliceToken, evil)
			assert.Equal(t, http.StatusForbidden, r.Status, "the cookie alone, no jar")
			r = alice.withAuth("POST", "/notes", "Bearer "+aliceToken, aliceToken, evil)
			assert.Equal(t, http.StatusOK, r.Status, "a bearer-authenticated request is not forgeable: %s", r.Raw)
			r = alice.withAuth("POST", "/notes", "Bearer "+aliceToken, "", evil)
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, before+2, *notes)

			r = alice.formWith(http.Header{"Origin": {svc.URL}}, "POST", "/notes", "text", "hi")
			assert.Equal(t, http.StatusOK, r.Status, "same origin")
			r = alice.formWith(evil, "GET", "/me")
			assert.Equal(t, http.StatusOK, r.Status, "a safe method")
			r = svc.client(t).formWith(evil, "POST", "/hello", "x", "y")
			assert.Equal(t, map[string]any{"hello": "anonymous"}, r.Body, "no cookie, nothing to forge")
			r = alice.formWith(evil, "POST", "/auth/sessions", "email", "alice@example.com", "password", "password-1")
			assert.Equal(t, http.StatusForbidden, r.Status, "the service's own routes refuse every cross-origin change")
		})

		t.Run("the error table from the application's handler", func(t *testing.T) {
			r := alice.form("GET", "/users/nobody@example.com")
			assert.Equal(t, http.StatusNotFound, r.Status)
			assert.Equal(t, map[string]any{"message": "not found"}, r.Body)
			r = alice.form("GET", "/users/alice@example.com")
			assert.Equal(t, http.StatusOK, r.Status)
		})

		t.Run("logout by bearer token", func(t *testing.T) {
			c := svc.client(t)
			r := c.withAuth("DELETE", "/auth/sessions", "Bearer "+bobToken, "", nil)
			assert.Equal(t, http.StatusFound, r.Status, r.Raw)
			assert.Equal(t, http.StatusUnauthorized, c.withAuth("GET", "/me", "Bearer "+bobToken, "", nil).Status)
		})
		assertNoSecrets(t, svc.Log.String(), aliceToken, bobToken, "password-1")
	})
}
