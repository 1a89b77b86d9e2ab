package authhttp

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// escapedFFFD matches the escape of U+FFFD in a JSON literal.
var escapedFFFD = regexp.MustCompile(`(?i)\\ufffd`)

var fuzzFields = []string{"email", "password", "username", "phone"}

// FuzzDecodeJSON checks decodeJSON against encoding/json: it accepts and
// refuses the same bodies; where encoding/json replaced nothing, the values
// are the same; where it replaced something with U+FFFD, decodeJSON's value
// is not valid UTF-8 instead; and decodeJSON never makes up a U+FFFD.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"carol@example.com","password":"password-c","phone":null}`,
		`{"email":"alice@example.com","password":"password-a"}`,
		`{"email":5,"password":"password-c"}`, `{"email":`, `["email"]`, `{}`, `null`, ``,
		"{\"password\":\"mySuper\xffPwd\"}", `{"password":"\ud800\ud800\ud800\ud800"}`, `{"password":"\udc00"}`,
		`{"password":"\ud800\u0041"}`, `{"password":"pass\u0000word"}`, `{"password":"p\u00e4ss\ud83d\ude00"}`,
		`{"password":"\ufffd"}`, `{"email":"a","email":"b"}`, `{"\u0065mail":"x@example.com"}`, `{"password":"\"\\\/\b\f\n\r\t"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeJSON(bytes.NewReader(body), fuzzFields)

		// The reference: the same decoding through encoding/json alone.
		var obj map[string]json.RawMessage
		refOK := json.Unmarshal(body, &obj) == nil && obj != nil
		std := map[string]string{}
		if refOK {
			for _, field := range fuzzFields {
				raw, ok := obj[field]
				if !ok || string(raw) == "null" {
					continue
				}
				var s string
				if json.Unmarshal(raw, &s) != nil {
					refOK = false
					break
				}
				std[field] = s
			}
		}
		if (err == nil) != refOK {
			t.Fatalf("decodeJSON error %v, encoding/json accepts: %v", err, refOK)
		}
		if err != nil {
			return
		}
		for _, field := range fuzzFields {
			ours, want := got[field], std[field]
			switch {
			case !strings.Contains(want, "\uFFFD"):
				if ours != want {
					t.Fatalf("%s: %q, encoding/json %q", field, ours, want)
				}
			case utf8.ValidString(ours) && ours != want:
				t.Fatalf("%s: valid %q differs from encoding/json's %q", field, ours, want)
			}
			if strings.Contains(ours, "\uFFFD") {
				raw := obj[field]
				if !bytes.Contains(raw, []byte("\uFFFD")) && !escapedFFFD.Match(raw) {
					t.Fatalf("%s: %q holds U+FFFD, its literal %q does not", field, ours, obj[field])
				}
			}
		}
	})
}

// FuzzDecodeForm sends arbitrary bodies, under arbitrary content types, to
// decode, as a POST and as a DELETE (whose body r.ParseForm would skip): it
// never panics, a failure is never a 500, and a urlencoded body it accepts
// gives the values url.ParseQuery gives.
func FuzzDecodeForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, seed := range []struct{ ct, body string }{
		{form, "email=carol%40example.com&password=password-c"},
		{form, "email=&password="}, {form, "email=%zz"}, {form, "email=a;b"}, {form, "email=%ff%00&password=x"},
		{form, "email=" + strings.Repeat("a", 100) + "%40example.com&password=password-x"},
		{form + "; charset=utf-8", "a=b&a=c"}, {"", ""}, {"", "email=x"}, {"text/plain", "email=x"},
		{"not a/type;;", "x"}, {"multipart/form-data", "x"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nd@example.com\r\n--X--\r\n"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nabc\r\n--X--\r\n"},
		{"application/json", `{"email":"x"}`},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	a := &Handler{opts: Options{MaxBodyBytes: 4 << 10}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, method := range []string{"POST", "DELETE"} {
			r := httptest.NewRequest(method, "/profile/totp", bytes.NewReader(body))
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
			w := httptest.NewRecorder()
			got, err := a.decode(w, r, fuzzFields...)
			if err != nil {
				a.writeError(w, r, err)
				switch w.Code {
				case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
				default:
					t.Fatalf("%s %q: error %v answered %d", method, contentType, err, w.Code)
				}
				continue
			}
			if contentType == "application/x-www-form-urlencoded" {
				want, perr := url.ParseQuery(string(body))
				if perr != nil {
					t.Fatalf("%s: accepted a body url.ParseQuery refuses: %v", method, perr)
				}
				for _, field := range fuzzFields {
					if got[field] != want.Get(field) {
						t.Fatalf("%s %s: %q, url.ParseQuery %q", method, field, got[field], want.Get(field))
					}
				}
			}
		}
	})
}

// FuzzCookieValues checks cookieValues against net/http: for any Cookie
// headers, the values of the cookies of one name, in order and up to the
// limit, are those r.CookiesNamed gives.
func FuzzCookieValues(f *testing.F) {
	f.Add("session_id=abc", "", 4)
	f.Add(`session_id="abc"; other=1; session_id=def`, "session_id=ghi", 2)
	f.Add(" session_id = a b ;session_id=\"\";session_id=\";session_id=x\\y; session_id=é", "\tsession_id=z\t", 4)
	f.Add(";;session_id;session_id=;=v;SESSION_ID=up", "", 4)
	f.Add("session_id=a;session_id=b;session_id=c", "session_id=d;session_id=e", 1)
	f.Fuzz(func(t *testing.T, line1, line2 string, limit int) {
		limit = 1 + (limit&0xff)%6
		for _, lines := range [][]string{{line1}, {line1, line2}} {
			header := http.Header{"Cookie": lines}
			var want []string
			for _, c := range (&http.Request{Header: header}).CookiesNamed("session_id") {
				if len(want) < limit {
					want = append(want, c.Value)
				}
			}
			got := cookieValues(header, "session_id", limit)
			if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
				t.Fatalf("cookieValues(%q, %d) = %q, r.CookiesNamed gives %q", lines, limit, got, want)
			}
		}
	})
}
