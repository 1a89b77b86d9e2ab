package authhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
)

// FuzzHandler sends arbitrary bodies, under arbitrary content types, to
// every route that reads one without a session, on an in-memory store: the
// reply is never a 5xx, and always JSON, and nothing is logged at level
// Error, by the request or by the work it leaves behind it (a reset
// token's issue). Each input waits for that work before the next one
// starts: the fuzzer sends thousands a second, and POST /reset_password
// rightly answers 503 once a hundred issues are pending (see
// TestResetBacklogIsBounded), which is not what this test is about.
func FuzzHandler(f *testing.F) {
	routes := []struct{ method, path string }{
		{"POST", "/users"}, {"POST", "/sessions"}, {"POST", "/reset_password"}, {"PUT", "/reset_password"},
		{"POST", "/sessions/mfa"},
	}
	const form = "application/x-www-form-urlencoded"
	for i := range routes {
		for _, seed := range []struct{ ct, body string }{
			{form, "email=alice%40example.com&password=password-a"},
			{form, "email=bob%40example.com&password=password-b&phone=%2B33612345678&username=bob"},
			{form, "email=%ff%40example.com&password=x"}, {form, "email=a%00%40example.com&password=password-a"},
			{form, "email=alice%40example.com&reset_token=" + strings.Repeat("A", 43) + "&new_password=password-n"},
			{form, "mfa_token=" + strings.Repeat("A", 43) + "&code=123456"}, {form, "mfa_token=x&recovery_code=abcd-efgh"},
			{form, "email=%zz"}, {"", ""}, {"text/plain", "x"},
			{"application/json", `{"email":"carol@example.com","password":"password-c","phone":null}`},
			{"application/json", "{\"email\":\"alice@example.com\",\"password\":\"mySuper\xffPwd\"}"},
			{"application/json", `{"email":"alice@example.com","password":"\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800"}`},
			{"application/json", `{"email":5}`}, {"application/json", `["email"]`},
			{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nd@example.com\r\n--X--\r\n"},
		} {
			f.Add(uint8(i), seed.ct, []byte(seed.body))
		}
	}
	policy := auth.DefaultPolicy()
	policy.RequireUsername = false
	store, err := auth.OpenMemory(context.Background(), auth.Config{
		Policy: &policy, BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
		ResetSender: &auth.ConsoleSender{W: io.Discard},
	})
	require.NoError(f, err)
	f.Cleanup(func() { store.Close() })
	_, err = store.Register(context.Background(), auth.Registration{Email: "alice@example.com", Password: "password-a"})
	require.NoError(f, err)
	var errorLog syncBuffer
	h, err := authhttp.New(store, authhttp.Options{MaxBodyBytes: 4 << 10,
		Logger: slog.New(slog.NewTextHandler(&errorLog, &slog.HandlerOptions{Level: slog.LevelError}))})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		rt := routes[int(route)%len(routes)]
		r := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.NoError(t, h.Shutdown(t.Context()))
		if logged := errorLog.take(); logged != "" {
			t.Fatalf("%s %s (%q, %q): logged %s", rt.method, rt.path, contentType, body, logged)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s (%q, %q): %d %s", rt.method, rt.path, contentType, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: not JSON (%q): %s", rt.method, rt.path, ct, w.Body)
		}
	})
}

// syncBuffer is a log destination that the request's goroutine and the
// work it leaves behind can write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was written since the last take.
func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}
