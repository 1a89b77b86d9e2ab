package authhttp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// jsonBody is a JSON object of string fields, each value written as the
// raw text between its quotes (escapes and raw bytes as given).
func jsonBody(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:\"%s\"", kv[i], kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// sameReply compares two replies that should differ only in the email they
// echo.
func sameReply(t *testing.T, form, json reply, formEmail, jsonEmail string) {
	t.Helper()
	assert.Equal(t, form.Status, json.Status, "form %s, JSON %s", form.Raw, json.Raw)
	assert.Equal(t, form.Raw, strings.ReplaceAll(json.Raw, jsonEmail, formEmail))
}

// TestJSONFormParity: a value sent as JSON gets the reply the same bytes
// get as a form. encoding/json alone would turn invalid UTF-8 and lone
// surrogates into U+FFFD, registering passwords a form could not, and
// letting "\ud800" × 8 log in as eight replacement characters.
func TestJSONFormParity(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		json string // the JSON string's contents, as sent
		form string // the same value's bytes
		// refused is auth's rule for it as a new password; "" when accepted.
		refused string
	}{
		{"raw 0xff", "mySuper\xffPwd", "mySuper\xffPwd", "must be valid UTF-8"},
		{"lone high surrogate", strings.Repeat(`\ud800`, 8), strings.Repeat("\xed\xa0\x80", 8), "must be valid UTF-8"},
		{"lone low surrogate", strings.Repeat(`\udc00`, 8), strings.Repeat("\xed\xb0\x80", 8), "must be valid UTF-8"},
		{"high surrogate then another escape", `\ud800\u0041bcdefgh`, "\xed\xa0\x80Abcdefgh", "must be valid UTF-8"},
		{"NUL", `pass\u0000word`, "pass\x00word", "must not contain control characters"},
		{"escaped non-ASCII", `p\u00e4ssw\u00f6rd-\ud83d\ude00`, "pässwörd-😀", ""},
		{"raw non-ASCII", "pässwörd-😀", "pässwörd-😀", ""},
		{"escaped quote and newline", `my\"Super\nPwd`, "my\"Super\nPwd", "must not contain control characters"},
		{"escaped quote and slash", `my\"Super\/Pwd`, "my\"Super/Pwd", ""},
		{"replacement characters", strings.Repeat(`\ufffd`, 8), strings.Repeat("\uFFFD", 8), ""},
	}
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		c := svc.client(t)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				formEmail, jsonEmail := fmt.Sprintf("form%d@example.com", i), fmt.Sprintf("json%d@example.com", i)
				f := c.form("POST", "/users", "email", formEmail, "password", tc.form)
				j := c.send("POST", "/users", "application/json", strings.NewReader(jsonBody("email", jsonEmail, "password", tc.json)))
				sameReply(t, f, j, formEmail, jsonEmail)
				if tc.refused != "" {
					assert.Equal(t, http.StatusBadRequest, j.Status)
					assert.Equal(t, map[string]any{"password": tc.refused}, j.Body["fields"])
					return
				}
				require.Equal(t, http.StatusOK, j.Status, j.Raw)
				// Each account logs in with the other encoding of its password.
				assert.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", jsonEmail, "password", tc.form).Status)
				r := c.send("POST", "/sessions", "application/json", strings.NewReader(jsonBody("email", formEmail, "password", tc.json)))
				assert.Equal(t, http.StatusOK, r.Status, r.Raw)
			})
		}

		t.Run("lone surrogates do not log in as replacement characters", func(t *testing.T) {
			const email = "fffd@example.com"
			require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", strings.Repeat("\uFFFD", 8)).Status)
			for _, lit := range []string{strings.Repeat(`\ud800`, 8), strings.Repeat(`\udfff`, 8), strings.Repeat("\xff", 8)} {
				r := c.send("POST", "/sessions", "application/json", strings.NewReader(jsonBody("email", email, "password", lit)))
				assert.Equal(t, http.StatusUnauthorized, r.Status, "%q: %s", lit, r.Raw)
			}
			r := c.send("POST", "/sessions", "application/json", strings.NewReader(jsonBody("email", email, "password", strings.Repeat(`\ufffd`, 8))))
			assert.Equal(t, http.StatusOK, r.Status, "the real password still works")
		})

		t.Run("invalid UTF-8 in the email", func(t *testing.T) {
			f := c.form("POST", "/users", "email", "bob\xff@example.com", "password", "password-1")
			j := c.send("POST", "/users", "application/json", strings.NewReader(jsonBody("email", `bob\udc00@example.com`, "password", "password-1")))
			assert.Equal(t, http.StatusBadRequest, f.Status)
			assert.Equal(t, f.Raw, j.Raw)
		})
	})
}
