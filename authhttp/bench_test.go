package authhttp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
)

// BenchmarkMe times GET /api/v1/me in process, without the network: what
// the handler adds to a bare handler that writes the same bytes. The
// session is looked up in the cache (auth.Config.SessionCacheSize) after
// the first request; the access log goes to a discarding JSON handler.
//
//	go test ./authhttp -run '^$' -bench BenchmarkMe -benchmem
func BenchmarkMe(b *testing.B) {
	ctx := context.Background()
	s, err := auth.OpenMemory(ctx, auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
		SecretKeys: &auth.Keyring{Current: "k", Keys: map[string][]byte{"k": make([]byte, 32)}},
	})
	require.NoError(b, err)
	mux, sess := benchAPI(b, s)
	tok, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: "Secret-alice-42"})
	require.NoError(b, err)

	get := func(set func(*http.Request)) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		set(r)
		return r
	}
	cookie := get(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session_id", Value: sess.Token}) })
	bearer := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+sess.Token) })
	jwt := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) })

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, cookie)
	require.Equal(b, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.Bytes()
	bare := http.NewServeMux()
	bare.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})

	for _, c := range []struct {
		name string
		h    http.Handler
		r    *http.Request
	}{{"bare", bare, cookie}, {"cookie", mux, cookie}, {"bearer", mux, bearer}, {"jwt", mux, jwt}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, c.r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}

// BenchmarkMeStaleBound times GET /api/v1/me by cookie on a SQLite file
// with the session cache's default bound (auth.DefaultSessionCacheMaxStale:
// the change counter is read at most once per bound) and with a bound of a
// nanosecond (read on every request, so that another process's revocation
// is seen at once): what closing the window would cost a request.
//
//	go test ./authhttp -run '^$' -bench BenchmarkMeStaleBound -benchmem -count 5
func BenchmarkMeStaleBound(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		stale time.Duration
	}{{"default", 0}, {"every-request", time.Nanosecond}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := auth.Open(ctx, filepath.Join(b.TempDir(), "credstore.db"), auth.Config{
				BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SessionCacheMaxStale: c.stale,
			})
			require.NoError(b, err)
			mux, sess := benchAPI(b, s)
			r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
			r.RemoteAddr = "127.0.0.1:5000"
			r.AddCookie(&http.Cookie{Name: "session_id", Value: sess.Token})
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}

// benchAPI serves s's API v1 under /api/v1/ (the access log discarded),
// closes s when b ends, and returns the handler and a session of a user,
// alice, registered for the benchmark.
func benchAPI(b *testing.B, s *auth.Store) (http.Handler, auth.Session) {
	b.Helper()
	b.Cleanup(func() { s.Close() })
	h, err := authhttp.New(s, authhttp.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(b, err)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
	ctx := context.Background()
	_, err = s.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "Secret-alice-42"})
	require.NoError(b, err)
	_, sess, err := s.LoginSession(ctx, "alice", "Secret-alice-42")
	require.NoError(b, err)
	return mux, sess
}
