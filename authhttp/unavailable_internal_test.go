package authhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
)

// TestReplyDatabaseUnavailable: auth.ErrUnavailable, as auth returns it
// around the driver's error, is a 503 with Retry-After in both dialects,
// logged as a transient warning with the driver's error; once the
// request's context has ended it is the abandoned request's 503 instead.
func TestReplyDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("login: %w", database.Unavailable(fmt.Errorf("begin: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01",
		Message: "terminating connection due to administrator command"})))
	assert.ErrorIs(t, err, auth.ErrUnavailable)

	for name, write := range map[string]func(*Handler, http.ResponseWriter, *http.Request, error){
		"holberton": (*Handler).writeError, "v1": (*Handler).writeV1Error,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, log := replyTo(err, httptest.NewRequest("POST", "/sessions", nil), write)
			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Equal(t, "5", w.Header().Get("Retry-After"))
			if name == "v1" {
				assert.JSONEq(t, `{"error":{"code":"unavailable","message":"service temporarily unavailable, try again shortly"}}`, w.Body.String())
			} else {
				assert.JSONEq(t, `{"message":"service temporarily unavailable, try again shortly"}`, w.Body.String())
			}
			assert.Contains(t, log.String(), `"level":"WARN","msg":"database unavailable (transient): answered 503"`)
			assert.Contains(t, log.String(), "57P01")
			assert.NotContains(t, log.String(), `"level":"ERROR"`)
		})
	}
	t.Run("context ended", func(t *testing.T) {
		t.Parallel()
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		w, log := replyTo(err, httptest.NewRequestWithContext(ended, "POST", "/sessions", nil), (*Handler).writeError)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, "2", w.Header().Get("Retry-After"))
		assert.Contains(t, log.String(), "client gone")
	})
}
