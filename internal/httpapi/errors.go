package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/credstore/credstore/auth"
)

// errorBody is the JSON body of every error reply.
type errorBody struct {
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// statuses is the one table from errors to replies, checked in order with
// errors.Is. The first entries win: a login password over 72 bytes is both
// ErrInvalidCredentials and a *ValidationError, and must stay a 401.
var statuses = []struct {
	err     error
	status  int
	message string
}{
	{auth.ErrInvalidCredentials, http.StatusUnauthorized, "invalid email or password"},
	{auth.ErrInvalidSession, http.StatusForbidden, "no valid session"},
	{auth.ErrInvalidResetToken, http.StatusForbidden, "invalid or expired reset token"},
	// Only POST /reset_password can meet an unknown user; the API's
	// clients expect 403 there.
	{auth.ErrNotFound, http.StatusForbidden, "unknown email"},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "request body too large"},
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType, errUnsupportedMediaType.Error()},
}

// replyError writes the reply for err. Validation and duplicate errors carry
// their details (field names and rules, never values); anything unknown is
// the server's fault: logged, and answered with a bare 500.
func (a *api) replyError(w http.ResponseWriter, r *http.Request, err error) {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
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
	default:
		// auth's errors never contain a password, hash or token, so the
		// message is safe to log; it is not safe to show.
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
		writeJSON(w, http.StatusInternalServerError, errorBody{Message: "internal server error"})
	}
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
