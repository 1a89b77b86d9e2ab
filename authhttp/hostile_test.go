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

// TestHostileFieldValues sends values no client should send (bytes that are
// not UTF-8, NUL, encoded surrogates, control characters, very long values)
// in every field of every route, as a form and as JSON, next to otherwise
// valid fields. A client's mistake is never a 500, and never an error in the
// server's log, on either engine: PostgreSQL, unlike SQLite, refuses such
// text even as a query parameter.
func TestHostileFieldValues(t *testing.T) {
	t.Parallel()
	values := []string{
		"\xff", "ab\xff@example.com", "a\x00@example.com", "\x00", "alice@example.com\x00",
		"\xed\xa0\x80@example.com", "\xc0\xaf", "a\r\nb@example.com", "\x1b[31m", "<script>@example.com",
		strings.Repeat("é", 200) + "@example.com", strings.Repeat("a", 300),
	}
	routes := []struct {
		method, path string
		fields       []string
	}{
		{"POST", "/users", []string{"email", "password", "username", "phone"}},
		{"POST", "/sessions", []string{"email", "password"}},
		{"POST", "/reset_password", []string{"email"}},
		{"PUT", "/reset_password", []string{"email", "reset_token", "new_password"}},
	}
	valid := map[string]string{
		"email": "alice@example.com", "password": "password-a", "new_password": "password-n",
		"reset_token": strings.Repeat("A", 43),
	}
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "alice@example.com", "password", "password-a").Status)
		for _, rt := range routes {
			for _, field := range rt.fields {
				for i, v := range values {
					kv := []string{}
					for _, f := range rt.fields {
						switch {
						case f == field:
							kv = append(kv, f, v)
						case valid[f] != "":
							kv = append(kv, f, valid[f])
						}
					}
					name := fmt.Sprintf("%s %s %s=values[%d]", rt.method, rt.path, field, i)
					r := c.form(rt.method, rt.path, kv...)
					assert.Less(t, r.Status, 500, "%s as a form: %s", name, r.Raw)
					var js []string
					for j := 0; j < len(kv); j += 2 {
						js = append(js, kv[j], jsonEscape(kv[j+1]))
					}
					r = c.send(rt.method, rt.path, "application/json", strings.NewReader(jsonBody(js...)))
					assert.Less(t, r.Status, 500, "%s as JSON: %s", name, r.Raw)
				}
			}
		}
		assertNoServerErrors(t, svc.Log.String())
	})
}

// jsonEscape writes s for the inside of a JSON string: quotes, backslashes
// and control characters escaped, every other byte, valid or not, as it is.
func jsonEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
