package authhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// replyTo answers r with err by write (writeError or writeV1Error) of a
// Handler that logs to the returned buffer.
func replyTo(err error, r *http.Request, write func(*Handler, http.ResponseWriter, *http.Request, error)) (*httptest.ResponseRecorder, *testdb.Buffer) {
	log := &testdb.Buffer{}
	w := httptest.NewRecorder()
	write(&Handler{log: slog.New(slog.NewJSONHandler(log, nil))}, w, r, err)
	return w, log
}

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
			w, log := replyTo(tc.err, httptest.NewRequestWithContext(tc.ctx, "POST", "/users", nil), (*Handler).writeError)
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

// TestReplyErrorThrottled: auth's *ThrottledError, however wrapped, is 429
// with Retry-After in whole seconds rounded up (at least 1) and the same
// number in the body; the body is the same for every cause, so it cannot
// tell an account that exists from one that does not. The entry comes
// before ErrInvalidCredentials: an error that is both stays a 429.
func TestReplyErrorThrottled(t *testing.T) {
	t.Parallel()
	throttled := func(d time.Duration) error {
		return &auth.ThrottledError{RetryAt: time.Now().Add(d), RetryAfter: d}
	}
	cases := []struct {
		name string
		err  error
		want int // seconds
	}{
		{"a second", fmt.Errorf("login: %w", throttled(time.Second)), 1},
		{"rounded up", fmt.Errorf("login: %w", throttled(1500*time.Millisecond)), 2},
		{"a nanosecond over", fmt.Errorf("login: %w", throttled(2*time.Second+1)), 3},
		{"fifteen minutes", fmt.Errorf("request reset: %w", throttled(15*time.Minute)), 900},
		{"zero is still one", throttled(0), 1},
		{"the bare sentinel", fmt.Errorf("login: %w", auth.ErrThrottled), 1},
		{"throttled and invalid credentials", errors.Join(auth.ErrInvalidCredentials, throttled(4*time.Second)), 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, log := replyTo(tc.err, httptest.NewRequest("POST", "/sessions", nil), (*Handler).writeError)
			assert.Equal(t, http.StatusTooManyRequests, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, strconv.Itoa(tc.want), w.Header().Get("Retry-After"))
			assert.JSONEq(t, fmt.Sprintf(`{"message":"too many attempts, try again later","retry_after":%d}`, tc.want), w.Body.String())
			assert.NotContains(t, log.String(), `"level":"ERROR"`, "a throttled attempt is not a server error")
		})
	}
}

// TestReplyErrorTwoFactor: the second factor's errors, wrapped as auth
// returns them. A store without keys is a 503 that says so, without
// Retry-After and logged as a warning; a wrong code at login or beside the
// password is a 401 that names the code, a throttled one still a 429; and
// a plain wrong password keeps its message.
func TestReplyErrorTwoFactor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{"no keys", fmt.Errorf("enroll totp: %w", auth.ErrNoSecretKey), 503, "two-factor authentication is not configured on this server"},
		{"a key missing from the ring", fmt.Errorf("login: %w", fmt.Errorf("%w: key %q is not in the ring", auth.ErrNoSecretKey, "k1")), 503,
			"two-factor authentication is not configured on this server"},
		{"wrong confirming code", auth.ErrInvalidCode, 400, "invalid or expired code"},
		{"no enrollment", fmt.Errorf("totp qr code: %w", auth.ErrNoEnrollment), 404, "no pending two-factor enrollment"},
		{"no factor", auth.ErrNoSecondFactor, 404, "no second factor enrolled"},
		{"wrong code at login", refusedAs(errCodeRefused, auth.ErrInvalidCredentials), 401, "invalid or expired code"},
		{"wrong password or code", refusedAs(errPasswordOrCodeRefused, fmt.Errorf("remove totp: %w", auth.ErrInvalidCredentials)), 401,
			"invalid password or code"},
		{"wrong password", auth.ErrInvalidCredentials, 401, "invalid email or password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, log := replyTo(tc.err, httptest.NewRequest("POST", "/profile/totp", nil), (*Handler).writeError)
			assert.Equal(t, tc.status, w.Code)
			assert.JSONEq(t, fmt.Sprintf(`{"message":%q}`, tc.message), w.Body.String())
			assert.Empty(t, w.Header().Get("Retry-After"))
			assert.NotContains(t, log.String(), `"level":"ERROR"`)
			if tc.status == http.StatusServiceUnavailable {
				assert.Contains(t, log.String(), `"level":"WARN"`)
			}
		})
	}

	t.Run("throttled stays 429", func(t *testing.T) {
		t.Parallel()
		a := &Handler{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		for _, kind := range []error{errCodeRefused, errPasswordOrCodeRefused} {
			w := httptest.NewRecorder()
			err := refusedAs(kind, fmt.Errorf("login: %w", &auth.ThrottledError{RetryAfter: 3 * time.Second}))
			a.writeError(w, httptest.NewRequest("POST", "/sessions/mfa", nil), err)
			assert.Equal(t, http.StatusTooManyRequests, w.Code)
			assert.Equal(t, "3", w.Header().Get("Retry-After"))
		}
	})
}

// TestReplyErrorActorEnded: a write refused because the request's session
// ended, or its administrator was demoted, while the request ran
// (auth.Actor.SessionID) is answered as the next request would be: the
// API's 401 authentication_required, and 403 forbidden. Neither is logged
// as an error.
func TestReplyErrorActorEnded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"session ended", fmt.Errorf("set password: %w", auth.ErrInvalidSession), 401,
			`{"error":{"code":"authentication_required","message":"authentication required"}}`},
		{"demoted", fmt.Errorf("delete user: %w", auth.ErrNotAdmin), 403,
			`{"error":{"code":"forbidden","message":"administrator required"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, log := replyTo(tc.err, httptest.NewRequest("PUT", "/admin/users/x/password", nil), (*Handler).writeV1Error)
			assert.Equal(t, tc.status, w.Code)
			assert.JSONEq(t, tc.body, w.Body.String())
			assert.NotContains(t, log.String(), `"level":"ERROR"`)
		})
	}
}
