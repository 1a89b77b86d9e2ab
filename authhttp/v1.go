package authhttp

import (
	_ "embed"
	"net/http"
	"path"

	"github.com/credstore/credstore/auth"
)

// openAPIDocument is the OpenAPI 3.1 description of the API v1, served at
// GET /openapi.json. Its paths and methods are those of v1Routes: a test
// fails when the two differ.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the API v1 (JSON),
// as GET /openapi.json serves it. Its server URL is /api/v1, where
// credstore serve mounts the API.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

// access is who may call a route of the API v1.
type access int

const (
	accessPublic access = iota // anyone
	accessUser                 // a user with a valid session (401 otherwise)
	accessAdmin                // an administrator (403 for another user)
)

// v1Route is one route of the API v1: its method and path (relative to
// where the API is mounted), who may call it, and its handler.
type v1Route struct {
	method, path string
	access       access
	handle       func(h *Handler, w http.ResponseWriter, r *http.Request)
}

// v1Routes is the one table of the API v1's routes: the mux serves them
// and the OpenAPI test checks the description against them.
var v1Routes = []v1Route{
	{"GET", "/openapi.json", accessPublic, (*Handler).v1OpenAPI},

	{"POST", "/users", accessPublic, (*Handler).v1Register},
	{"POST", "/sessions", accessPublic, (*Handler).v1Login},
	{"POST", "/sessions/second-factor", accessPublic, (*Handler).v1SecondFactor},
	{"POST", "/token", accessPublic, (*Handler).v1Token},
	{"DELETE", "/sessions/current", accessUser, (*Handler).v1Logout},

	{"GET", "/me", accessUser, (*Handler).v1Me},
	{"PATCH", "/me", accessUser, (*Handler).v1UpdateMe},
	{"DELETE", "/me", accessUser, (*Handler).v1DeleteMe},
	{"POST", "/me/password", accessUser, (*Handler).v1ChangePassword},
	{"GET", "/me/sessions", accessUser, (*Handler).v1Sessions},
	{"DELETE", "/me/sessions", accessUser, (*Handler).v1RevokeOtherSessions},
	{"DELETE", "/me/sessions/{id}", accessUser, (*Handler).v1RevokeSession},
	{"GET", "/me/second-factor", accessUser, (*Handler).v1TwoFactor},
	{"POST", "/me/second-factor/totp", accessUser, (*Handler).v1EnrollTOTP},
	{"DELETE", "/me/second-factor/totp", accessUser, (*Handler).v1RemoveTOTP},
	{"GET", "/me/second-factor/totp/qr.png", accessUser, (*Handler).v1TOTPQR},
	{"POST", "/me/second-factor/totp/confirm", accessUser, (*Handler).v1ConfirmTOTP},
	{"POST", "/me/second-factor/recovery-codes", accessUser, (*Handler).v1RecoveryCodes},

	{"POST", "/password-reset", accessPublic, (*Handler).v1RequestReset},
	{"POST", "/password-reset/confirm", accessPublic, (*Handler).v1ConfirmReset},

	{"GET", "/admin/users", accessAdmin, (*Handler).v1AdminListUsers},
	{"GET", "/admin/users/{id}", accessAdmin, (*Handler).v1AdminUser},
	{"PATCH", "/admin/users/{id}", accessAdmin, (*Handler).v1AdminUpdateUser},
	{"DELETE", "/admin/users/{id}", accessAdmin, (*Handler).v1AdminDeleteUser},
	{"PUT", "/admin/users/{id}/password", accessAdmin, (*Handler).v1AdminSetPassword},
	{"DELETE", "/admin/users/{id}/sessions", accessAdmin, (*Handler).v1AdminRevokeSessions},
	{"DELETE", "/admin/users/{id}/second-factor", accessAdmin, (*Handler).v1AdminRemoveTOTP},
	{"GET", "/admin/audit", accessAdmin, (*Handler).v1AdminAudit},
}

// V1 returns the JSON API v1 (see docs/service.md, "API v1", and
// OpenAPIDocument), relative to where it is mounted:
//
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
//
// It shares the Handler's options, session cookie, per-IP limits and
// middleware (client, access log, panics, deadline). Every reply is JSON
// but the QR code; every error is {"error": {"code", "message",
// "fields"}} (V1ErrorBody), with the codes of ErrorReplyFor, unknown
// paths and methods included.
//
// A request is authenticated by an "Authorization: Bearer <session token>"
// header or by the session cookie, as Authenticate does. Every request
// with an unsafe method (POST, PUT, PATCH, DELETE) that does not carry a
// bearer token is refused 403 cross_origin when it is a cross-origin
// browser request (http.CrossOriginProtection, with
// Options.TrustedOrigins): a cookie-authenticated one could be forged, and
// an anonymous one (a login, a registration) could log the visitor in as
// someone else.
func (h *Handler) V1() http.Handler { return h.v1 }

// newV1 builds the API v1's handler.
func (h *Handler) newV1() http.Handler {
	mux, known := http.NewServeMux(), http.NewServeMux()
	for _, rt := range v1Routes {
		handle := rt.handle
		var next http.HandlerFunc = func(w http.ResponseWriter, r *http.Request) { handle(h, w, r) }
		switch rt.access {
		case accessUser:
			next = h.v1RequireUser(next, false)
		case accessAdmin:
			next = h.v1RequireUser(next, true)
		}
		switch rt.method + " " + rt.path {
		case "GET /me":
			// The user and the second factor in one read (lookupToken).
			inner := next
			next = func(w http.ResponseWriter, r *http.Request) {
				stateOf(r.Context()).wantTwoFactor = true
				inner(w, r)
			}
		case "POST /users":
			next = h.v1Limited(h.registerLimiter, next)
		case "POST /sessions", "POST /sessions/second-factor", "POST /token":
			next = h.v1Limited(h.loginLimiter, next)
		case "POST /password-reset", "POST /password-reset/confirm":
			next = h.v1Limited(h.resetLimiter, next)
		}
		mux.Handle(rt.method+" "+rt.path, next)
		known.Handle(rt.method+" "+rt.path, next)
	}
	// The catch-all: a request no route serves costs the second lookup
	// (v1Unrouted), one that a route serves only the first.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.v1Unrouted(w, r, known) })
	h.v1Mux = mux
	return h.withClientAndDeadline(h.accessLog(h.recoverPanics(h.v1CrossOrigin(http.HandlerFunc(h.routeV1)))))
}

// v1CrossOrigin refuses cross-origin browser requests with unsafe methods
// that carry no bearer token (see V1).
func (h *Handler) v1CrossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !unsafeMethod(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if _, bearer := h.credentials(r); !bearer {
			if err := h.csrf.Check(r); err != nil {
				h.writeV1Error(w, r, ErrCrossOrigin)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// v1RequireUser answers 401 authentication_required without a valid
// session and, when admin is set, 403 forbidden for a user who is not an
// administrator. An administrator's calls are recorded in the audit trail
// as the administrator's (auth.ActorAdmin), and a user's writes as the
// user's (auth.ActorUser). Both name the request's session: auth checks
// again, in the transaction of each write, that it is alive and that the
// administrator still is one, so that a write cannot commit after a
// revocation or demotion that committed while the request ran (a 401, a
// 403). Safe methods name no actor: they write nothing, and GET /me stays
// free of the context it would cost.
func (h *Handler) v1RequireUser(next http.HandlerFunc, admin bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.authenticate(r); err != nil {
			h.writeV1Error(w, r, err)
			return
		}
		st := stateOf(r.Context())
		switch {
		case !st.ok:
			h.writeV1Error(w, r, ErrAuthenticationRequired)
			return
		case admin && !st.user.IsAdmin:
			h.writeV1Error(w, r, ErrAdminRequired)
			return
		case admin:
			r = r.WithContext(auth.WithActor(r.Context(), auth.Actor{Kind: auth.ActorAdmin, UserID: st.user.ID, SessionID: st.session.ID}))
		case unsafeMethod(r.Method):
			r = r.WithContext(auth.WithActor(r.Context(), auth.Actor{Kind: auth.ActorUser, UserID: st.user.ID, SessionID: st.session.ID}))
		}
		next(w, r)
	}
}

// v1Limited is limited with the API v1's error shape.
func (h *Handler) v1Limited(l *ipLimiter, next http.HandlerFunc) http.HandlerFunc {
	if l == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.allow(stateOf(r.Context()).client.Addr); !ok {
			h.writeV1Error(w, r, &auth.ThrottledError{RetryAfter: wait})
			return
		}
		next(w, r)
	}
}

// routeV1 is route for the API v1: unknown paths and methods are answered
// in its error shape.
func (h *Handler) routeV1(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "" || path.Clean(p) != p {
		h.writeV1Error(w, r, errRouteNotFound)
		return
	}
	h.v1Mux.ServeHTTP(w, r)
}

// v1Unrouted answers a request that no route of known (the routes of
// v1Mux, without its catch-all) serves: 405 with Allow when a route serves
// its path with another method, else 404, as the mux's own replies would
// be but in the API's error shape.
func (h *Handler) v1Unrouted(w http.ResponseWriter, r *http.Request, known *http.ServeMux) {
	next, _ := known.Handler(r)
	if allow, ok := methodNotAllowed(next, r); ok {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, V1ErrorBody{Error: V1Error{Code: CodeMethodNotAllowed, Message: "method not allowed"}})
		return
	}
	h.writeV1Error(w, r, errRouteNotFound)
}

// errRouteNotFound is a path no route serves; it is auth.ErrNotFound to
// the error table.
var errRouteNotFound = &notFoundError{}

type notFoundError struct{}

func (*notFoundError) Error() string        { return "not found" }
func (*notFoundError) Is(target error) bool { return target == auth.ErrNotFound }

func (h *Handler) v1OpenAPI(w http.ResponseWriter, _ *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPIDocument)
}
