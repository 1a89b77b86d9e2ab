package authhttp_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// deviceSetCookie returns the device_id cookie a reply sets, or nil.
func deviceSetCookie(t *testing.T, r reply) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, line := range r.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		require.NoError(t, err, line)
		if c.Name == authhttp.DeviceCookieName {
			require.Nil(t, found, "one device cookie per reply")
			found = c
		}
	}
	return found
}

// deviceCookie returns the device cookie the jar holds for the service.
func (c *client) deviceCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == authhttp.DeviceCookieName {
			return ck.Value
		}
	}
	return ""
}

// TestDeviceCookie: a successful login sets device_id (HttpOnly,
// SameSite=Strict, Path=/, Max-Age until the device's expiry, Secure with
// Cookie.Secure); the next login sends it back and auth renews the same
// token; a failed login and a logout leave it; an empty device_id sent
// before the real one does not hide it; it never reaches the log.
func TestDeviceCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				svc := startService(t, dsn, authhttp.Options{Cookie: authhttp.CookieOptions{Secure: secure}})
				c := svc.client(t)
				const email, pass = "alice@example.com", "password-a"
				require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", pass).Status)

				r := c.form("POST", "/sessions", "email", email, "password", pass)
				require.Equal(t, http.StatusOK, r.Status, r.Raw)
				dc := deviceSetCookie(t, r)
				require.NotNil(t, dc, "the login sets the device cookie: %v", r.Header.Values("Set-Cookie"))
				token := dc.Value
				require.NotEmpty(t, token)
				assert.True(t, dc.HttpOnly)
				assert.Equal(t, http.SameSiteStrictMode, dc.SameSite)
				assert.Equal(t, "/", dc.Path)
				assert.InDelta(t, auth.DefaultDeviceLifetime.Seconds(), dc.MaxAge, 1, "until the device's expiry")
				assert.Equal(t, secure, dc.Secure)
				if secure {
					return // the jar would not send a Secure cookie over plain HTTP
				}
				require.Equal(t, token, c.deviceCookie())

				r = c.form("POST", "/sessions", "email", email, "password", "wrong-password")
				require.Equal(t, http.StatusUnauthorized, r.Status)
				assert.Nil(t, deviceSetCookie(t, r), "a failed login leaves the device cookie")

				r = c.form("DELETE", "/sessions")
				require.Equal(t, http.StatusFound, r.Status)
				assert.Nil(t, deviceSetCookie(t, r), "logout leaves the device cookie")
				assert.Equal(t, token, c.deviceCookie())

				r = c.form("POST", "/sessions", "email", email, "password", pass)
				require.Equal(t, http.StatusOK, r.Status, r.Raw)
				dc = deviceSetCookie(t, r)
				require.NotNil(t, dc)
				assert.Equal(t, token, dc.Value, "the device cookie sent is the one renewed")

				// A bare request whose first device_id is empty.
				req, err := http.NewRequest("POST", svc.URL+"/sessions",
					strings.NewReader(url.Values{"email": {email}, "password": {pass}}.Encode()))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Cookie", authhttp.DeviceCookieName+"=; "+authhttp.DeviceCookieName+"="+token)
				r = (&client{t: t, base: svc.URL, http: &http.Client{}}).do(req)
				require.Equal(t, http.StatusOK, r.Status, r.Raw)
				dc = deviceSetCookie(t, r)
				require.NotNil(t, dc)
				assert.Equal(t, token, dc.Value, "the first non-empty device cookie is the one sent to auth")

				assertNoSecrets(t, svc.Log.String(), token, pass)
			})
		})
	}
}

// TestLogoutLeavesDeviceCookie: logging out clears the session cookie and
// no other, whatever device cookie the browser holds.
func TestLogoutLeavesDeviceCookie(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-a").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "alice@example.com", "password", "password-a").Status)
		req, err := http.NewRequest("DELETE", svc.URL+"/sessions", nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", authhttp.DefaultCookieName+"="+c.sessionCookie()+"; "+authhttp.DeviceCookieName+"=some-device-token")
		r := (&client{t: t, base: svc.URL, http: &http.Client{CheckRedirect: c.http.CheckRedirect}}).do(req)
		require.Equal(t, http.StatusFound, r.Status, r.Raw)
		require.Len(t, r.Header.Values("Set-Cookie"), 1)
		assert.True(t, strings.HasPrefix(r.Header.Get("Set-Cookie"), authhttp.DefaultCookieName+"=;"), r.Header.Get("Set-Cookie"))
		assert.Nil(t, deviceSetCookie(t, r))
		assertNoSecrets(t, svc.Log.String(), "some-device-token")
	})
}
