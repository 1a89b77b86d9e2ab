package authhttp_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// TestBadInput sends malformed, incomplete and hostile requests to every
// route. Each case names the reply it expects; every reply must be JSON
// (client.do checks).
func TestBadInput(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true, MaxBodyBytes: 4 << 10})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-a").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "bob@example.com", "password", "password-b").Status)
		r := c.form("POST", "/reset_password", "email", "alice@example.com")
		require.Equal(t, http.StatusOK, r.Status)
		aliceToken := r.Body["reset_token"].(string)
		r = c.form("POST", "/sessions", "email", "bob@example.com", "password", "password-b")
		require.Equal(t, http.StatusOK, r.Status)
		bobSession := c.sessionCookie()

		big := "email=" + strings.Repeat("a", 8<<10) + "%40example.com&password=password-x"
		form := "application/x-www-form-urlencoded"
		cases := []struct {
			name         string
			method, path string
			contentType  string
			body         string
			status       int
			message      string   // expected "message", when checked
			fields       []string // expected keys of "fields"
		}{
			// POST /users
			{"register: no body", "POST", "/users", "", "", 400, "invalid input", []string{"email", "password"}},
			{"register: empty values", "POST", "/users", form, "email=&password=", 400, "invalid input", []string{"email", "password"}},
			{"register: missing password", "POST", "/users", form, "email=carol%40example.com", 400, "invalid input", []string{"password"}},
			{"register: bad email, short password, bad phone", "POST", "/users", form, "email=carol&password=short&phone=12", 400, "invalid input", []string{"email", "password", "phone"}},
			{"register: fullwidth at sign", "POST", "/users", form, "email=zed%EF%BC%A0example.com&password=password-z", 400, "invalid input", []string{"email"}},
			{"register: small commercial at", "POST", "/users", form, "email=zed%EF%B9%ABexample.com&password=password-z", 400, "invalid input", []string{"email"}},
			{"register: duplicate in another case", "POST", "/users", form, "email=ALICE%40example.com&password=password-x", 400, "email already registered", nil},
			{"register: wrong content type", "POST", "/users", "text/plain", "email=carol%40example.com&password=password-c", 415, "", nil},
			{"register: unparsable content type", "POST", "/users", "not a/type;;", "x", 415, "", nil},
			{"register: body without content type", "POST", "/users", "", "email=carol%40example.com&password=password-c", 415, "", nil},
			{"register: oversized body", "POST", "/users", form, big, 413, "request body too large", nil},
			{"register: oversized JSON", "POST", "/users", "application/json", `{"email":"` + strings.Repeat("a", 8<<10) + `"}`, 413, "", nil},
			{"register: malformed JSON", "POST", "/users", "application/json", `{"email":`, 400, "", nil},
			{"register: JSON array", "POST", "/users", "application/json", `["email"]`, 400, "", nil},
			{"register: JSON number field", "POST", "/users", "application/json", `{"email":5,"password":"password-c"}`, 400, `field "email" must be a string`, nil},
			{"register: malformed form encoding", "POST", "/users", form, "email=%zz", 400, "malformed request body", nil},
			{"register: JSON", "POST", "/users", "application/json; charset=utf-8", `{"email":"carol@example.com","password":"password-c","phone":null}`, 200, "user created", nil},

			// POST /sessions
			{"login: no body", "POST", "/sessions", "", "", 401, "invalid email or password", nil},
			{"login: empty values", "POST", "/sessions", form, "email=&password=", 401, "invalid email or password", nil},
			{"login: missing password", "POST", "/sessions", form, "email=alice%40example.com", 401, "invalid email or password", nil},
			{"login: unknown email", "POST", "/sessions", form, "email=nobody%40example.com&password=password-a", 401, "invalid email or password", nil},
			{"login: not an email", "POST", "/sessions", form, "email=alice&password=password-a", 401, "invalid email or password", nil},
			{"login: password over 72 bytes", "POST", "/sessions", form, "email=alice%40example.com&password=" + strings.Repeat("p", 73), 401, "invalid email or password", nil},
			{"login: wrong content type", "POST", "/sessions", "text/xml", "<a/>", 415, "", nil},
			{"login: oversized body", "POST", "/sessions", form, big, 413, "", nil},
			{"login: JSON", "POST", "/sessions", "application/json", `{"email":"alice@example.com","password":"password-a"}`, 200, "logged in", nil},

			// POST /sessions/mfa
			{"second step: no body", "POST", "/sessions/mfa", "", "", 401, "invalid or expired code", nil},
			{"second step: garbage token", "POST", "/sessions/mfa", form, "mfa_token=garbage&code=123456", 401, "invalid or expired code", nil},
			{"second step: a reset token as the token", "POST", "/sessions/mfa", form, "mfa_token=" + aliceToken + "&code=123456", 401, "invalid or expired code", nil},
			{"second step: JSON number field", "POST", "/sessions/mfa", "application/json", `{"mfa_token":"x","code":123456}`, 400, `field "code" must be a string`, nil},
			{"second step: malformed form encoding", "POST", "/sessions/mfa", form, "code=%zz", 400, "malformed request body", nil},
			{"second step: wrong content type", "POST", "/sessions/mfa", "text/plain", "code=123456", 415, "", nil},
			{"second step: oversized body", "POST", "/sessions/mfa", form, big, 413, "", nil},

			// POST /reset_password
			{"reset request: no body", "POST", "/reset_password", "", "", 400, "invalid input", []string{"email"}},
			{"reset request: empty email", "POST", "/reset_password", form, "email=", 400, "invalid input", []string{"email"}},
			{"reset request: unknown email", "POST", "/reset_password", form, "email=nobody%40example.com", 403, "unknown email", nil},
			{"reset request: wrong content type", "POST", "/reset_password", "text/plain", "email=bob%40example.com", 415, "", nil},
			{"reset request: oversized body", "POST", "/reset_password", form, big, 413, "", nil},

			// PUT /reset_password
			{"reset: no body", "PUT", "/reset_password", "", "", 400, "invalid input", []string{"new_password"}},
			{"reset: missing token", "PUT", "/reset_password", form, "email=alice%40example.com&new_password=password-n", 403, "invalid or expired reset token", nil},
			{"reset: garbage token", "PUT", "/reset_password", form, "email=alice%40example.com&reset_token=garbage&new_password=password-n", 403, "", nil},
			{"reset: missing email", "PUT", "/reset_password", form, "reset_token=" + aliceToken + "&new_password=password-n", 403, "", nil},
			{"reset: another user's token", "PUT", "/reset_password", form, "email=bob%40example.com&reset_token=" + aliceToken + "&new_password=password-n", 403, "", nil},
			{"reset: new password too short", "PUT", "/reset_password", form, "email=alice%40example.com&reset_token=" + aliceToken + "&new_password=short", 400, "invalid input", []string{"new_password"}},
			{"reset: wrong content type", "PUT", "/reset_password", "application/xml", "<x/>", 415, "", nil},
			{"reset: oversized body", "PUT", "/reset_password", form, big, 413, "", nil},

			// routing
			{"unknown route", "GET", "/admin", "", "", 404, "not found", nil},
			{"unknown nested route", "GET", "/users/1", "", "", 404, "not found", nil},
			{"wrong method on /", "POST", "/", "", "", 405, "method not allowed", nil},
			{"wrong method on /users", "GET", "/users", "", "", 405, "method not allowed", nil},
			{"wrong method on /profile", "DELETE", "/profile", "", "", 405, "method not allowed", nil},
			{"wrong method on /reset_password", "DELETE", "/reset_password", "", "", 405, "method not allowed", nil},
			{"wrong method on /sessions/mfa", "GET", "/sessions/mfa", "", "", 405, "method not allowed", nil},
			{"wrong method on /profile/totp", "GET", "/profile/totp", "", "", 405, "method not allowed", nil},
			{"wrong method on /profile/totp/qr.png", "POST", "/profile/totp/qr.png", "", "", 405, "method not allowed", nil},
			{"wrong method on /profile/totp/confirm", "GET", "/profile/totp/confirm", "", "", 405, "method not allowed", nil},
			{"wrong method on /profile/recovery_codes", "GET", "/profile/recovery_codes", "", "", 405, "method not allowed", nil},
			{"unknown route under /profile/totp", "GET", "/profile/totp/qr.jpg", "", "", 404, "not found", nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cl := svc.client(t)
				var body *strings.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				} else {
					body = strings.NewReader("")
				}
				r := cl.send(tc.method, tc.path, tc.contentType, body)
				assert.Equal(t, tc.status, r.Status, "reply %s", r.Raw)
				require.NotNil(t, r.Body, "a JSON body")
				if tc.message != "" {
					assert.Equal(t, tc.message, r.Body["message"])
				} else {
					assert.NotEmpty(t, r.Body["message"])
				}
				if tc.fields != nil {
					fields, _ := r.Body["fields"].(map[string]any)
					keys := make([]string, 0, len(fields))
					for k := range fields {
						keys = append(keys, k)
					}
					assert.ElementsMatch(t, tc.fields, keys)
				}
				if tc.status == 405 {
					assert.NotEmpty(t, r.Header.Get("Allow"))
				}
			})
		}

		t.Run("the reset token survived the failed attempts", func(t *testing.T) {
			r := c.form("PUT", "/reset_password", "email", "alice@example.com", "reset_token", aliceToken, "new_password", "password-n")
			assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		})

		t.Run("garbage cookies", func(t *testing.T) {
			for _, v := range []string{"", "garbage", strings.Repeat("A", 43), strings.Repeat("x", 4000), bobSession + "x", bobSession[:42], aliceToken, `"quoted"`} {
				for _, m := range []string{"GET /profile", "DELETE /sessions"} {
					method, path, _ := strings.Cut(m, " ")
					r := c.withCookie(method, path, v)
					assert.Equal(t, http.StatusForbidden, r.Status, "%s with cookie %.20q", m, v)
				}
			}
			r := c.withCookie("GET", "/profile", bobSession)
			assert.Equal(t, http.StatusOK, r.Status, "bob's real cookie still works")
			assert.Equal(t, "bob@example.com", r.Body["email"])
		})

		t.Run("multipart form", func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			require.NoError(t, mw.WriteField("email", "dave@example.com"))
			require.NoError(t, mw.WriteField("password", "password-d"))
			require.NoError(t, mw.Close())
			r := svc.client(t).send("POST", "/users", mw.FormDataContentType(), &buf)
			assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		})

		assertNoSecrets(t, svc.Log.String(), aliceToken, bobSession, "password-a", "password-b")
	})
}
