package authhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/credstore/credstore/auth"
)

// errorBody is the JSON body of every error reply.
type errorBody struct {
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// RetryAfter repeats a 429's Retry-After, in seconds, for clients that
	// read bodies rather than headers.
	RetryAfter int `json:"retry_after,omitempty"`
}

// statuses is the one table from errors to replies, checked in order with
// errors.Is. The first entries win: a login password over 72 bytes is both
// ErrInvalidCredentials and a *ValidationError, and must stay a 401.
var statuses = []struct {
	err     error
	status  int
	message string
}{
	// First: a throttled attempt was refused before its password was
	// looked at, whatever else the error says, and its reply must be the
	// same whether or not the account exists.
	{auth.ErrThrottled, http.StatusTooManyRequests, throttledMessage},
	// Before ErrInvalidCredentials, which they wrap (see refusedAs).
	{errCodeRefused, http.StatusUnauthorized, errCodeRefused.Error()},
	{errPasswordOrCodeRefused, http.StatusUnauthorized, errPasswordOrCodeRefused.Error()},
	{auth.ErrInvalidCredentials, http.StatusUnauthorized, "invalid email or password"},
	{auth.ErrInvalidSession, http.StatusForbidden, "no valid session"},
	{auth.ErrInvalidResetToken, http.StatusForbidden, "invalid or expired reset token"},
	// Only POST /reset_password can meet an unknown user; the API's
	// clients expect 403 there.
	{auth.ErrNotFound, http.StatusForbidden, "unknown email"},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "request body too large"},
	// auth refused the call before doing anything: its hash gate is full.
	{auth.ErrOverloaded, http.StatusServiceUnavailable, busyMessage},
	// The server has no key to encrypt TOTP secrets (or lacks the one a
	// secret was stored under): a fault of its configuration that no retry
	// mends, so a 503 without Retry-After rather than the busy one. Not a
	// 500: nothing failed, the feature is off, and the operator was told at
	// start (credstore serve warns); not a 501, which says the method is
	// unknown to the server, while the route exists and works once a key
	// file is configured.
	{auth.ErrNoSecretKey, http.StatusServiceUnavailable, noTwoFactorMessage},
	// The client's own state: a wrong code confirming an enrollment (which
	// stays, for another try), no enrollment pending, no factor to remove.
	{auth.ErrInvalidCode, http.StatusBadRequest, "invalid or expired code"},
	{auth.ErrNoEnrollment, http.StatusNotFound, "no pending two-factor enrollment"},
	{auth.ErrNoSecondFactor, http.StatusNotFound, "no second factor enrolled"},
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType, errUnsupportedMediaType.Error()},
}

// noTwoFactorMessage is the message of the 503 of a server without TOTP
// keys.
const noTwoFactorMessage = "two-factor authentication is not configured on this server"

// Refusals of a second factor. auth answers a wrong code, like a wrong
// password, with ErrInvalidCredentials; the handlers that ask for a code
// mark it with one of these (refusedAs), so that the 401 names what the
// client sent rather than "email or password", which it sent a step
// earlier or not at all.
var (
	errCodeRefused           = errors.New("invalid or expired code")
	errPasswordOrCodeRefused = errors.New("invalid password or code")
)

// refusedAs marks err as kind when it is auth.ErrInvalidCredentials; any
// other error (a throttle, the database's) is returned as it is.
func refusedAs(kind, err error) error {
	if errors.Is(err, auth.ErrInvalidCredentials) {
		return fmt.Errorf("%w: %w", kind, err)
	}
	return err
}

// busyMessage is the message of every 503 but that of a server without
// TOTP keys.
const busyMessage = "server busy, try again shortly"

// retryAfter is the Retry-After of a 503, in seconds. auth's hash queue,
// as credstore serve sizes it (four per core), drains in about a second at
// cost 12, so a client coming back after one second would find room; but
// each refused attempt costs the saturated server (and its client) CPU taken
// from bcrypt, a quarter to a third of a millisecond when every core is
// hashing. In a burst of 400 clients on two cores, one second let the
// refusals and retries take 11% of the CPU, two seconds 7%, and the queue
// still stays busy while more than about twenty clients keep trying
// (docs/service.md, Load figures).
const retryAfter = "2"

// replyError writes the reply for err. Validation and duplicate errors carry
// their details (field names and rules, never values); anything unknown is
// the server's fault: logged, and answered with a bare 500.
func (a *api) replyError(w http.ResponseWriter, r *http.Request, err error) {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			switch s.err {
			case auth.ErrOverloaded:
				a.unavailable(w, r)
				return
			case auth.ErrNoSecretKey:
				// auth's message names a key id at most, never a key.
				a.log.WarnContext(r.Context(), "two-factor authentication unavailable", "method", r.Method,
					"path", r.URL.Path, "err", err.Error())
			case auth.ErrThrottled:
				var throttled *auth.ThrottledError
				wait := time.Duration(0) // at least a second, below
				if errors.As(err, &throttled) {
					wait = throttled.RetryAfter
				}
				tooMany(w, wait)
				return
			}
			writeJSON(w, s.status, errorBody{Message: s.message})
			return
		}
	}
	var (
		dup       *auth.DuplicateError
		invalid   *auth.ValidationError
		malformed *malformedError
	)
	switch {
	case errors.As(err, &dup):
		writeJSON(w, http.StatusBadRequest, errorBody{Message: dup.Error()})
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusBadRequest, errorBody{Message: "invalid input", Fields: invalid.Fields})
	case errors.As(err, &malformed):
		writeJSON(w, http.StatusBadRequest, errorBody{Message: malformed.msg})
	case r.Context().Err() != nil:
		// The request's context ended (its deadline passed, see
		// api.deadline, or the client went away) and the failure is its
		// consequence, whatever form the driver gave it: context.Canceled,
		// SQLite's "interrupted", pgconn's timeout. No write committed (a
		// reset request may have stored a token it could not deliver; the
		// next request replaces it).
		// A context error while the request's own context is live (an
		// SMTP sender's timeout, say) is the server's failure: below.
		a.unavailable(w, r)
	default:
		// auth's errors never contain a password, hash or token, so the
		// message is safe to log; it is not safe to show.
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
		writeJSON(w, http.StatusInternalServerError, errorBody{Message: "internal server error"})
	}
}

// unavailable answers 503 with Retry-After: the server is overloaded, or
// the request's deadline passed before its work committed (nothing was
// written), or the client has gone (and the reply goes nowhere). None is the
// server's failure, so none is logged as an error; a passed deadline is a
// warning, since a server that often misses it is too slow for its load.
func (a *api) unavailable(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch {
	case ctx.Err() == nil:
	case errors.Is(context.Cause(ctx), errRequestTimeout):
		a.log.WarnContext(ctx, "request abandoned: deadline passed", "method", r.Method, "path", r.URL.Path,
			"timeout", a.opts.RequestTimeout.String())
	default:
		a.log.InfoContext(ctx, "request abandoned: client gone", "method", r.Method, "path", r.URL.Path)
	}
	w.Header().Set("Retry-After", retryAfter)
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Message: busyMessage})
}

// throttledMessage is the message of every 429, auth's throttle's and the
// per-IP limits' alike.
const throttledMessage = "too many attempts, try again later"

// tooMany answers 429 with Retry-After: wait rounded up to whole seconds,
// at least one (a client told 0 would retry at once, and be refused again).
// The body carries the same number. Nothing in the reply depends on the
// account: auth throttles an identifier that names no account exactly like
// one that does, so a 429 tells an attacker nothing a 401 would not.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := max(retryAfterSeconds(wait), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, errorBody{Message: throttledMessage, RetryAfter: secs})
}

// retryAfterSeconds is d in whole seconds, rounded up, so that a client
// that waits that long finds the attempt allowed.
func retryAfterSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int(s)
}

// writeJSON writes v as the JSON reply with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"message":"internal server error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
