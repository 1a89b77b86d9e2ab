package authhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
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
	code    string
	message string
}{
	// First: a throttled attempt was refused before its password was
	// looked at, whatever else the error says, and its reply must be the
	// same whether or not the account exists.
	{auth.ErrThrottled, http.StatusTooManyRequests, CodeThrottled, throttledMessage},
	// Before ErrInvalidCredentials, which they wrap (see refusedAs).
	{errCodeRefused, http.StatusUnauthorized, CodeInvalidCredentials, errCodeRefused.Error()},
	{errPasswordOrCodeRefused, http.StatusUnauthorized, CodeInvalidCredentials, errPasswordOrCodeRefused.Error()},
	{errPasswordRefused, http.StatusUnauthorized, CodeInvalidCredentials, errPasswordRefused.Error()},
	{auth.ErrInvalidCredentials, http.StatusUnauthorized, CodeInvalidCredentials, "invalid email or password"},
	// Only a client that gave the right password (and second factor) of
	// a disabled account gets it; a wrong one is the 401 above.
	{auth.ErrAccountDisabled, http.StatusForbidden, CodeAccountDisabled, "account disabled"},
	{ErrAuthenticationRequired, http.StatusUnauthorized, CodeAuthenticationRequired, ErrAuthenticationRequired.Error()},
	// 403, not 401: the service's clients expect it from GET /profile
	// without a session. A route behind RequireUser answers 401
	// (ErrAuthenticationRequired) instead.
	{auth.ErrInvalidSession, http.StatusForbidden, CodeInvalidSession, "no valid session"},
	{ErrAdminRequired, http.StatusForbidden, CodeForbidden, ErrAdminRequired.Error()},
	// An administrator demoted while their request ran.
	{auth.ErrNotAdmin, http.StatusForbidden, CodeForbidden, ErrAdminRequired.Error()},
	{ErrCrossOrigin, http.StatusForbidden, CodeCrossOrigin, ErrCrossOrigin.Error()},
	{auth.ErrInvalidResetToken, http.StatusForbidden, CodeInvalidResetToken, "invalid or expired reset token"},
	// The token endpoint's (RFC 6749 §5.2 names the code invalid_grant).
	{auth.ErrRefreshTokenReused, http.StatusBadRequest, CodeInvalidGrant, auth.ErrRefreshTokenReused.Error()},
	{auth.ErrInvalidRefreshToken, http.StatusBadRequest, CodeInvalidGrant, auth.ErrInvalidRefreshToken.Error()},
	{errUnsupportedGrantType, http.StatusBadRequest, CodeUnsupportedGrantType, errUnsupportedGrantType.Error()},
	{errTokensUnavailable, http.StatusServiceUnavailable, CodeTokensUnavailable, errTokensUnavailable.Error()},
	{auth.ErrNotFound, http.StatusNotFound, CodeNotFound, "not found"},
	{auth.ErrSessionNotFound, http.StatusNotFound, CodeNotFound, "session not found"},
	// A call that needs the second factor it was not given (an account
	// deletion without a code).
	{auth.ErrSecondFactorRequired, http.StatusUnauthorized, CodeSecondFactorRequired, "second factor required"},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body too large"},
	// A path that a route serves with other methods (its reply has Allow).
	{errMethodNotAllowed, http.StatusMethodNotAllowed, CodeMethodNotAllowed, errMethodNotAllowed.Error()},
	// auth refused the call before doing anything: its hash gate is full.
	{auth.ErrOverloaded, http.StatusServiceUnavailable, CodeOverloaded, busyMessage},
	// The database could not be reached or could not take the statement
	// for now: a restart, a connection the server ended, a full disk. A
	// client that comes back finds it again; nothing of the request
	// committed that it must not repeat (a transaction either committed,
	// and then answered, or did not).
	{auth.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, unavailableMessage},
	// The server has no key to encrypt TOTP secrets (or lacks the one a
	// secret was stored under): a fault of its configuration that no retry
	// mends, so a 503 without Retry-After rather than the busy one. Not a
	// 500: nothing failed, the feature is off, and the operator was told at
	// start (credstore serve warns); not a 501, which says the method is
	// unknown to the server, while the route exists and works once a key
	// file is configured.
	{auth.ErrNoSecretKey, http.StatusServiceUnavailable, CodeTwoFactorUnavailable, noTwoFactorMessage},
	// The client's own state: a wrong code confirming an enrollment (which
	// stays, for another try), no enrollment pending, no factor to remove.
	{auth.ErrInvalidCode, http.StatusBadRequest, CodeInvalidCode, "invalid or expired code"},
	{auth.ErrNoEnrollment, http.StatusNotFound, CodeNoEnrollment, "no pending two-factor enrollment"},
	{auth.ErrNoSecondFactor, http.StatusNotFound, CodeNoSecondFactor, "no second factor enrolled"},
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, errUnsupportedMediaType.Error()},
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
	errPasswordRefused       = errors.New("invalid password")
)

// errMethodNotAllowed is a request for a path that routes serve, but not
// with its method; the reply carries their Allow.
var errMethodNotAllowed = errors.New("method not allowed")

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
	// Code is the stable name of the error that the API v1 sends (see
	// the Code constants); the Holberton routes send Body alone.
	Code string
	Body ErrorBody

	fields map[string]string // V1Body's fields beyond Body.Fields
}

// V1Body is the reply's body as the API v1 sends it:
// {"error": {"code", "message", "fields"}}.
func (r ErrorReply) V1Body() V1ErrorBody {
	fields := r.Body.Fields
	if fields == nil {
		fields = r.fields
	}
	return V1ErrorBody{Error: V1Error{Code: r.Code, Message: r.Body.Message, Fields: fields}}
}

// V1ErrorBody is the body of every error reply of the API v1.
type V1ErrorBody struct {
	Error V1Error `json:"error"`
}

// V1Error is an error of the API v1: Code is stable and meant for
// programs to switch on, Message for people; Fields, when present, maps
// each invalid field of the request to the rule it broke (never its
// value).
type V1Error struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// The codes of V1Error, one per kind of failure. They never change
// meaning; new ones may be added.
const (
	CodeInvalidRequest         = "invalid_request"         // 400: a body that is not the JSON object the route takes
	CodeValidationFailed       = "validation_failed"       // 400: fields names each invalid field
	CodeDuplicate              = "duplicate"               // 400: fields names the field already registered
	CodeInvalidCode            = "invalid_code"            // 400: a wrong code confirming an enrollment
	CodeInvalidCredentials     = "invalid_credentials"     // 401: wrong password, code or login
	CodeAuthenticationRequired = "authentication_required" // 401: no valid session
	CodeSecondFactorRequired   = "second_factor_required"  // 401: the operation needs a TOTP code too
	CodeInvalidSession         = "invalid_session"         // 403: (Holberton routes) no valid session
	CodeForbidden              = "forbidden"               // 403: an administrator's route
	CodeCrossOrigin            = "cross_origin"            // 403: a cross-origin browser request that would change state
	CodeInvalidResetToken      = "invalid_reset_token"     // 403: a reset token that cannot be used
	CodeAccountDisabled        = "account_disabled"        // 403: the right password of an account an administrator disabled
	CodeNotFound               = "not_found"               // 404
	CodeNoEnrollment           = "no_enrollment"           // 404: no pending TOTP enrollment
	CodeNoSecondFactor         = "no_second_factor"        // 404: no TOTP factor
	CodeMethodNotAllowed       = "method_not_allowed"      // 405, with Allow
	CodePayloadTooLarge        = "payload_too_large"       // 413
	CodeUnsupportedMediaType   = "unsupported_media_type"  // 415
	CodeThrottled              = "throttled"               // 429, with Retry-After
	CodeInternal               = "internal_error"          // 500
	CodeOverloaded             = "overloaded"              // 503, with Retry-After
	CodeUnavailable            = "unavailable"             // 503, with Retry-After: the database is unavailable for now
	CodeTwoFactorUnavailable   = "two_factor_unavailable"  // 503: the server has no TOTP key
	CodeInvalidGrant           = "invalid_grant"           // 400: POST /token: a refresh token unknown, expired or already used
	CodeUnsupportedGrantType   = "unsupported_grant_type"  // 400: POST /token: a grant_type it does not take
	CodeTokensUnavailable      = "tokens_unavailable"      // 503: the server has no key to sign tokens with
)

// ErrorReplyFor is the reply to err, returned by a call made in ctx (the
// request's context), from the one table of this package:
//
//	auth.ErrThrottled (*auth.ThrottledError)   429, Retry-After
//	auth.ErrInvalidCredentials                 401
//	ErrAuthenticationRequired                  401
//	auth.ErrInvalidSession                     403
//	ErrAdminRequired, auth.ErrNotAdmin         403
//	ErrCrossOrigin                             403
//	auth.ErrInvalidResetToken                  403
//	auth.ErrAccountDisabled                    403
//	auth.ErrSecondFactorRequired               401
//	auth.ErrNotFound, auth.ErrSessionNotFound  404
//	auth.ErrNoEnrollment, ErrNoSecondFactor    404
//	*auth.DuplicateError, *auth.ValidationError, auth.ErrInvalidCode   400
//	auth.ErrOverloaded                         503, Retry-After
//	auth.ErrUnavailable                        503, Retry-After
//	auth.ErrNoSecretKey                        503
//	any error once ctx has ended               503, Retry-After
//	anything else                              500, "internal server error"
//
// The entries are checked in this order (a throttled login is a 429, and
// an over-long login password is ErrInvalidCredentials before it is a
// *ValidationError). A body never carries an error's own text but for
// *auth.DuplicateError's, which names the field; a *auth.ValidationError
// lists its fields and rules. Each reply has its Code, which the API v1
// sends (V1Body) and the Holberton routes do not.
func ErrorReplyFor(ctx context.Context, err error) ErrorReply {
	for _, s := range statuses {
		if !errors.Is(err, s.err) {
			continue
		}
		switch s.err {
		case auth.ErrOverloaded:
			return busyReply
		case auth.ErrUnavailable:
			if ctx.Err() != nil {
				// The connection broke because the request's context
				// ended (pgconn closes it then): an abandoned request.
				return busyReply
			}
			return unavailableReply
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
			return ErrorReply{Status: http.StatusTooManyRequests, RetryAfter: secs, Code: CodeThrottled,
				Body: ErrorBody{Message: throttledMessage, RetryAfter: secs}}
		}
		return ErrorReply{Status: s.status, Code: s.code, Body: ErrorBody{Message: s.message}}
	}
	var (
		dup       *auth.DuplicateError
		invalid   *auth.ValidationError
		malformed *malformedError
	)
	switch {
	case errors.As(err, &dup):
		// Fields names the field for clients that show errors by field; the
		// Holberton body has never carried it.
		return ErrorReply{Status: http.StatusBadRequest, Code: CodeDuplicate, Body: ErrorBody{Message: dup.Error()},
			fields: map[string]string{dup.Field: "already registered"}}
	case errors.As(err, &invalid):
		return ErrorReply{Status: http.StatusBadRequest, Code: CodeValidationFailed, Body: ErrorBody{Message: "invalid input", Fields: invalid.Fields}}
	case errors.As(err, &malformed):
		return ErrorReply{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Body: ErrorBody{Message: malformed.msg}}
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
	return ErrorReply{Status: http.StatusInternalServerError, Code: CodeInternal, Body: ErrorBody{Message: "internal server error"}}
}

// busyReply is the 503 of an overloaded server or an abandoned request.
var busyReply = ErrorReply{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter, Code: CodeOverloaded, Body: ErrorBody{Message: busyMessage}}

// unavailableMessage is the message of the 503 of a database unavailable
// for now (auth.ErrUnavailable).
const unavailableMessage = "service temporarily unavailable, try again shortly"

// unavailableRetryAfter is the Retry-After of that 503, in seconds. A
// PostgreSQL fast restart refused connections for about a second, an
// immediate one (crash recovery) for about six; a client that comes back
// after five finds the first over and the second nearly so, without
// knocking every second on a server that is starting.
const unavailableRetryAfter = 5

// unavailableReply is the 503 of a database unavailable for now.
var unavailableReply = ErrorReply{Status: http.StatusServiceUnavailable, RetryAfter: unavailableRetryAfter, Code: CodeUnavailable,
	Body: ErrorBody{Message: unavailableMessage}}

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
	writeError(holberton, w, r, err, log, timeout)
}

// writeError is WriteError with this Handler's logger: the Holberton
// routes' dialect, which the application's middleware speaks too.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeErrorIn(holberton, w, r, err)
}

// writeV1Error is writeError in the API v1's dialect (V1ErrorBody).
func (h *Handler) writeV1Error(w http.ResponseWriter, r *http.Request, err error) {
	h.writeErrorIn(apiV1, w, r, err)
}

// writeErrorIn is writeError in dialect d.
func (h *Handler) writeErrorIn(d dialect, w http.ResponseWriter, r *http.Request, err error) {
	writeError(d, w, r, err, h.log, h.opts.RequestTimeout)
}

// writeError writes the reply to err in dialect d, after logging what an
// operator needs of it (logError). In the API v1 a session that ended
// while the request ran (auth.ErrInvalidSession from a write, see admit)
// is the API's 401, as the next request with it gets; the Holberton
// routes answer it 403, as their clients expect.
func writeError(d dialect, w http.ResponseWriter, r *http.Request, err error, log *slog.Logger, timeout time.Duration) {
	if d == apiV1 && errors.Is(err, auth.ErrInvalidSession) {
		err = ErrAuthenticationRequired
	}
	reply := logError(r, err, log, timeout)
	if reply.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(reply.RetryAfter))
	}
	writeJSON(w, reply.Status, d.errorBody(reply))
}

// logError is the reply to err, after logging what an operator needs of
// it (see WriteError).
func logError(r *http.Request, err error, log *slog.Logger, timeout time.Duration) ErrorReply {
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
	case reply.Code == CodeUnavailable:
		// Transient: the server answers again once the database is back,
		// with nothing for the operator to mend in credstore; a warning,
		// since one that lasts is an outage. The driver's message names
		// the host, database and user, never the password.
		log.WarnContext(ctx, "database unavailable (transient): answered 503", "method", r.Method, "path", r.URL.Path,
			"retry_after", reply.RetryAfter, "err", err.Error())
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
	return reply
}

// throttledMessage is the message of every 429, auth's throttle's and the
// per-IP limits' alike.
const throttledMessage = "too many attempts, try again later"

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

// jsonBuffers holds the buffers replies are encoded into: a reply is
// written from one and the buffer reused, instead of a new body (and its
// copy with the newline) on every request.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledJSON bounds the buffers jsonBuffers keeps: a rare large reply
// (a page of users) does not pin its memory.
const maxPooledJSON = 64 << 10

// writeJSON writes v as the JSON reply with status, as json.Marshal
// encodes it, and a newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"message":"internal server error"}` + "\n")
	}
	writeJSONBody(w, status, buf.Bytes())
}

// putJSONBuffer returns buf to jsonBuffers, unless it grew too large.
func putJSONBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledJSON {
		jsonBuffers.Put(buf)
	}
}

// writeJSONBody writes body, JSON, as the reply with status.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	// The headers' values share one new array (full slices: an Add to one
	// of them copies it), and their names are canonical already: what
	// Header.Set would do three times, in one allocation.
	v := []string{"application/json", "no-store", "nosniff"}
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
