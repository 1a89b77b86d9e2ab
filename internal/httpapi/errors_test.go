package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestReplyErrorUnavailable: auth.ErrOverloaded, wrapped as auth returns
// it, and any failure after the request's context ended, are 503 with
// Retry-After and the JSON body, and not logged as errors. A context error
// while the request is live (an SMTP timeout) stays a logged 500.
func TestReplyErrorUnavailable(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		logged string
	}{
		{"overloaded", context.Background(), fmt.Errorf("register: %w", auth.ErrOverloaded), 503, ""},
		{"context ended, driver error", ended, fmt.Errorf("register: begin: %w", fmt.Errorf("interrupted (9)")), 503, "client gone"},
		{"context ended, context error", ended, fmt.Errorf("login: %w", context.Canceled), 503, "client gone"},
		{"live context, timeout of its own", context.Background(), fmt.Errorf("deliver: %w", context.DeadlineExceeded), 500, "request failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &testdb.Buffer{}
			a := &api{log: slog.New(slog.NewJSONHandler(log, nil))}
			w := httptest.NewRecorder()
			r := httptest.NewRequestWithContext(tc.ctx, "POST", "/users", nil)
			a.replyError(w, r, tc.err)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			if tc.status == http.StatusServiceUnavailable {
				assert.Equal(t, "2", w.Header().Get("Retry-After"))
				assert.JSONEq(t, `{"message":"server busy, try again shortly"}`, w.Body.String())
				assert.NotContains(t, log.String(), `"level":"ERROR"`)
			} else {
				assert.JSONEq(t, `{"message":"internal server error"}`, w.Body.String())
				assert.Contains(t, log.String(), `"level":"ERROR"`)
			}
			assert.Contains(t, log.String(), tc.logged)
		})
	}
}
