package authhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/credstore/credstore/auth"
)

// ErrorBody is the JSON body of every error reply, the service's and, by
// WriteError, the application's.
type ErrorBody struct {
	Message string `json:"message"`
	// Fields names each invalid field of a *auth.ValidationError and the
	// rule it broke (never its value).
	Fields map[string]string `json:"fields,omitempty"`
	// RetryAfter repeats a 429's Retry-After, in seconds, for clients that
	// read bodies rather than headers.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Errors of the HTTP layer itself, in the table with auth's. An
// application's handlers may return them through WriteError too.
var (
	// ErrAuthenticationRequired: the route needs a user and the request
	// has no valid session (RequireUser). 401.
	ErrAuthenticationRequired = errors.New("authentication required")
	// ErrAdminRequired: the route needs an administrator (RequireAdmin).
	// 403.
	ErrAdminRequired = errors.New("administrator required")
	// ErrCrossOrigin: a browser request from another origin, not in
	// Options.TrustedOrigins, would change state with the session cookie
	// (or, on the service's routes, at all). 403.
	ErrCrossOrigin = errors.New("cross-origin request refused")
)

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
	{ErrAuthenticationRequired, http.StatusUnauthorized, ErrAuthenticationRequired.Error()},
	// 403, not 401: the service's clients expect it from GET /profile
	// without a session. A route behind RequireUser answers 401
	// (ErrAuthenticationRequired) instead.
	{auth.ErrInvalidSession, http.StatusForbidden, "no valid session"},
	{ErrAdminRequired, http.StatusForbidden, ErrAdminRequired.Error()},
	{ErrCrossOrigin, http.StatusForbidden, ErrCrossOrigin.Error()},
	{auth.ErrInvalidResetToken, http.StatusForbidden, "invalid or expired reset token"},
	{auth.ErrNotFound, http.StatusNotFound, "not found"},
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
const retryAfter = 2

// ErrorReply is the reply to an error: its status, its Retry-After header
// in seconds (0: none) and its JSON body.
type ErrorReply struct {
	Status     int
	RetryAfter int
	Body       ErrorBody
}

// ErrorReplyFor is the reply to err, returned by a call made in ctx (the
// request's context), from the one table of this package:
//
//	auth.ErrThrottled (*auth.ThrottledError)   429, Retry-After
//	auth.ErrInvalidCredentials                 401
//	ErrAuthenticationRequired                  401
//	auth.ErrInvalidSession                     403
//	ErrAdminRequired, ErrCrossOrigin           403
//	auth.ErrInvalidResetToken                  403
//	auth.ErrNotFound                           404
//	auth.ErrNoEnrollment, ErrNoSecondFactor    404
//	*auth.DuplicateError, *auth.ValidationError, auth.ErrInvalidCode   400
//	auth.ErrOverloaded                         503, Retry-After
//	auth.ErrNoSecretKey                        503
//	any error once ctx has ended               503, Retry-After
//	anything else                              500, "internal server error"
//
// The entries are checked in this order (a throttled login is a 429, and
// an over-long login password is ErrInvalidCredentials before it is a
// *ValidationError). A body never carries an error's own text but for
// *auth.DuplicateError's, which names the field; a *auth.ValidationError
// lists its fields and rules.
func ErrorReplyFor(ctx context.Context, err error) ErrorReply {
	for _, s := range statuses {
		if !errors.Is(err, s.err) {
			continue
		}
		switch s.err {
		case auth.ErrOverloaded:
			return busyReply
		case auth.ErrThrottled:
			var throttled *auth.ThrottledError
			wait := time.Duration(0) // at least a second, below
			if errors.As(err, &throttled) {
				wait = throttled.RetryAfter
			}
			// Nothing in the reply depends on the account: auth throttles
			// an identifier that names no account exactly like one that
			// does, so a 429 tells an attacker nothing a 401 would not.
			secs := max(retryAfterSeconds(wait), 1)
			return ErrorReply{Status: http.StatusTooManyRequests, RetryAfter: secs,
				Body: ErrorBody{Message: throttledMessage, RetryAfter: secs}}
		}
		return ErrorReply{Status: s.status, Body: ErrorBody{Message: s.message}}
	}
	var (
		dup       *auth.DuplicateError
		invalid   *auth.ValidationError
		malformed *malformedError
	)
	switch {
	case errors.As(err, &dup):
		return ErrorReply{Status: http.StatusBadRequest, Body: ErrorBody{Message: dup.Error()}}
	case errors.As(err, &invalid):
		return ErrorReply{Status: http.StatusBadRequest, Body: ErrorBody{Message: "invalid input", Fields: invalid.Fields}}
	case errors.As(err, &malformed):
		return ErrorReply{Status: http.StatusBadRequest, Body: ErrorBody{Message: malformed.msg}}
	case ctx.Err() != nil:
		// The request's context ended (its deadline passed, see
		// Handler.deadline, or the client went away) and the failure is its
		// consequence, whatever form the driver gave it: context.Canceled,
		// SQLite's "interrupted", pgconn's timeout. No write committed (a
		// reset request may have stored a token it could not deliver; the
		// next request replaces it).
		// A context error while the request's own context is live (an
		// SMTP sender's timeout, say) is the server's failure: below.
		return busyReply
	}
	return ErrorReply{Status: http.StatusInternalServerError, Body: ErrorBody{Message: "internal server error"}}
}

// busyReply is the 503 of an overloaded server or an abandoned request.
var busyReply = ErrorReply{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter, Body: ErrorBody{Message: busyMessage}}

// WriteError writes the reply to err (ErrorReplyFor) as JSON, and logs
// what an operator needs: a 500's error (auth's errors never contain a
// password, hash or token, so the message is safe to log; it is not safe
// to show), a server without TOTP keys, a request abandoned at its
// deadline. An application's handlers use it for the errors of their own
// calls to auth. It logs to the Logger of the Handler whose middleware
// the request went through, else to slog.Default().
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	log, timeout := slog.Default(), time.Duration(0)
	if h := stateOf(r.Context()).h; h != nil {
		log, timeout = h.log, h.opts.RequestTimeout
	}
	writeError(w, r, err, log, timeout)
}

// writeError is WriteError with this Handler's logger.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, err, h.log, h.opts.RequestTimeout)
}

func writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger, timeout time.Duration) {
	ctx := r.Context()
	reply := ErrorReplyFor(ctx, err)
	switch {
	case errors.Is(err, ErrCrossOrigin):
		// The origin is the other site's, never a secret; logging it
		// tells an operator which origin to trust when a legitimate front
		// end is refused.
		log.InfoContext(ctx, "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	case reply.Status == http.StatusInternalServerError:
		log.ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
	case errors.Is(err, auth.ErrNoSecretKey):
		// auth's message names a key id at most, never a key.
		log.WarnContext(ctx, "two-factor authentication unavailable", "method", r.Method,
			"path", r.URL.Path, "err", err.Error())
	case reply.Status == http.StatusServiceUnavailable && ctx.Err() != nil:
		// Neither a passed deadline nor a client gone is the server's
		// failure, so neither is logged as an error; a passed deadline is
		// a warning, since a server that often misses it is too slow for
		// its load.
		if errors.Is(context.Cause(ctx), errRequestTimeout) {
			log.WarnContext(ctx, "request abandoned: deadline passed", "method", r.Method, "path", r.URL.Path,
				"timeout", timeout.String())
		} else {
			log.InfoContext(ctx, "request abandoned: client gone", "method", r.Method, "path", r.URL.Path)
		}
	}
	if reply.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(reply.RetryAfter))
	}
	writeJSON(w, reply.Status, reply.Body)
}

// throttledMessage is the message of every 429, auth's throttle's and the
// per-IP limits' alike.
const throttledMessage = "too many attempts, try again later"

// tooMany answers 429 as auth's throttle is answered: Retry-After is wait
// in whole seconds, rounded up, at least one (a client told 0 would retry
// at once, and be refused again); the body carries the same number.
func tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	WriteError(w, r, &auth.ThrottledError{RetryAfter: wait})
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
