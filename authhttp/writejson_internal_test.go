package authhttp

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
)

// TestWriteJSONAsMarshal: a reply written from a pooled buffer is what
// json.Marshal gives and a newline, HTML escaping included, whatever the
// buffer held before (a large reply, then a small one) and whichever
// buffer the pool hands out; a value that cannot be encoded is a 500 that
// carries none of it.
func TestWriteJSONAsMarshal(t *testing.T) {
	values := []any{
		V1ErrorBody{Error: V1Error{Code: CodeMethodNotAllowed, Message: "method not allowed"}},
		map[string]string{"html": "<script>&</script>", "long": strings.Repeat("x", 2*maxPooledJSON)},
		ErrorBody{Message: "é\u2028"},
		[]int{1, 2, 3},
	}
	for range 3 {
		for _, v := range values {
			want, err := json.Marshal(v)
			require.NoError(t, err)
			w := httptest.NewRecorder()
			writeJSON(w, http.StatusTeapot, v)
			assert.Equal(t, http.StatusTeapot, w.Code)
			assert.Equal(t, string(want)+"\n", w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		}
	}

	w := httptest.NewRecorder()
	writeJSON(w, http.StatusOK, map[string]any{"secret": "s3cret", "bad": make(chan int)})
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, `{"message":"internal server error"}`+"\n", w.Body.String())
}

// TestAppendMeAsMarshal: the hand-written reply of GET /me is json.Marshal's
// bytes and a newline, for the strings it writes as they are and for those
// it leaves to encoding/json (escapes, HTML, non-ASCII, invalid UTF-8), and
// for times in any zone, including those Time.MarshalJSON refuses (the
// reply is then the 500 writeJSON gives any value it cannot encode).
func TestAppendMeAsMarshal(t *testing.T) {
	strs := []string{"", "alice", "alice@example.com", "+33612345678", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		`a"b`, `a\b`, "<script>", "a<b", "a&b", "a>b", "tab\there", "nl\n", "\x00", "\x7f", "~", " ",
		"é", "日本", "\u2028\u2029", "\xff\xfe", "müller@exämple.com"}
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	base := time.Date(2026, 12, 7, 11, 0, 0, 123456000, time.UTC)
	times := []time.Time{
		base, base.Truncate(time.Second), base.In(paris), time.Time{}, base.In(time.FixedZone("", -(23*3600 + 59*60))),
		base.In(time.FixedZone("odd", 5*3600+30*60+17)), base.In(time.FixedZone("", 24*3600)),
		base.In(time.FixedZone("", -24*3600)), base.AddDate(8000, 0, 0), base.AddDate(-2027, 0, 0),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC),
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rnd.IntN(len(s))] }
	check := func(me v1Me) {
		t.Helper()
		w := httptest.NewRecorder()
		writeMe(w, me)
		want, err := json.Marshal(me)
		if err != nil {
			assert.Equal(t, http.StatusInternalServerError, w.Code)
			assert.Equal(t, `{"message":"internal server error"}`+"\n", w.Body.String())
			return
		}
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, string(want)+"\n", w.Body.String())
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	}
	for _, ts := range times {
		check(v1Me{User: auth.User{PublicID: "p", CreatedAt: ts, UpdatedAt: base}})
		check(v1Me{User: auth.User{PublicID: "p", CreatedAt: base, UpdatedAt: ts}})
		check(v1Me{User: auth.User{PublicID: "p", CreatedAt: base, UpdatedAt: base, DisabledAt: &ts}})
	}
	for range 2000 {
		check(v1Me{
			User: auth.User{
				ID: rnd.Int64(), PublicID: pick(strs), Username: pick(strs) + pick(strs), Email: pick(strs), Phone: pick(strs),
				IsAdmin: rnd.IntN(2) == 0, CreatedAt: times[rnd.IntN(len(times))], UpdatedAt: times[rnd.IntN(len(times))],
			},
			TwoFactor: auth.TwoFactorStatus{TOTPEnabled: rnd.IntN(2) == 0, EnrollmentPending: rnd.IntN(2) == 0, RecoveryCodesLeft: rnd.IntN(21) - 5},
		})
	}
}
