package authhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request: method, path (never the query
// string, headers or body, where secrets travel), status, duration, the
// peer's address and the client's (withClient: the same unless the peer is
// a trusted proxy).
func (h *Handler) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.opts.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		ctx := r.Context()
		if !h.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		// The record is made here rather than by LogAttrs, which would
		// also take the caller's program counter (runtime.Callers) on
		// every request, for a source that is always this function. The
		// duration is a slog.Duration (nanoseconds in JSON): a float
		// goes through json.Marshal in slog's JSON handler.
		rd := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
		rd.AddAttrs(slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
			slog.Duration("duration", h.opts.Now().Sub(start)),
			slog.String("remote", r.RemoteAddr), slog.String("client", stateOf(ctx).client.Auth.IP))
		_ = h.log.Handler().Handle(ctx, rd)
	})
}

// recoverPanics turns a panic into a JSON 500 that reveals nothing, and
// logs it with its stack. http.ErrAbortHandler keeps its meaning.
func (h *Handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*statusRecorder) // accessLog's, as a rule
		if !ok {
			rec = &statusRecorder{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, ErrorBody{Message: "internal server error"})
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// errRequestTimeout is the cause of a request context whose
// Options.RequestTimeout passed; any other end is the client's going away.
var errRequestTimeout = errors.New("request timeout passed")
