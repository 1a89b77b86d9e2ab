package authhttp

import (
	"net/http"
	"path"

	"github.com/credstore/credstore/auth"
)

// The service has two surfaces: the Holberton routes (New, ServeHTTP), whose
// contract its first clients rely on, and the API v1 (V1). They differ in
// their paths, their bodies and the shape of their errors, and in nothing
// else: every route of both is a row of one table (routes), and one set of
// plumbing (handler, admit, dispatch, crossOrigin, writeErrorIn) serves
// every row, parameterised by the row's columns.

// dialect is how a surface of the service speaks its errors.
type dialect uint8

const (
	// holberton errors are {"message", "fields", "retry_after"}
	// (ErrorBody), as the application's middleware's are too; a request
	// without a valid session is 403 (auth.ErrInvalidSession).
	holberton dialect = iota
	// apiV1 errors are {"error": {"code", "message", "fields"}}
	// (V1ErrorBody); a request without a valid session, or whose session
	// ended while it ran, is 401 authentication_required.
	apiV1
)

// errorBody is the body of reply in d.
func (d dialect) errorBody(reply ErrorReply) any {
	if d == apiV1 {
		return reply.V1Body()
	}
	return reply.Body
}

// checksBearer reports whether d refuses a cross-origin browser write that
// carries a bearer token. The API v1 lets it through: no other site can make
// a browser send one. The Holberton routes refuse every cross-origin write,
// as they always have.
func (d dialect) checksBearer() bool { return d == holberton }

// access is who may call a route.
type access int

const (
	accessPublic access = iota // anyone
	accessUser                 // a user with a valid session (the dialect's refusal otherwise)
	accessAdmin                // an administrator (403 for another user)
)

// ipLimit names the per-IP limiter (Options.LoginLimit, RegisterLimit,
// ResetLimit) that bounds a route, if any. It is a name rather than the
// limiter because the table is built before any Handler.
type ipLimit uint8

const (
	noLimit ipLimit = iota
	registerLimit
	loginLimit
	resetLimit
)

// limiter is h's limiter of l; nil, no limit, for noLimit or a limit the
// options leave off.
func (h *Handler) limiter(l ipLimit) *ipLimiter {
	switch l {
	case registerLimit:
		return h.registerLimiter
	case loginLimit:
		return h.loginLimiter
	case resetLimit:
		return h.resetLimiter
	}
	return nil
}

// action is a route's own work, once the plumbing has let the request in
// and decoded its body into f. An error it returns is answered in the
// route's dialect; otherwise it has written the reply.
type action func(h *Handler, w http.ResponseWriter, r *http.Request, f form) error

// route is one route of the service: its dialect, method and path
// (relative to where its surface is mounted), who may call it, the per-IP
// limit it is under, how its body is decoded, and its action. twoFactor
// asks for the user's second-factor status to be read with the session, in
// one query (lookupToken), by the routes that show it.
type route struct {
	dialect      dialect
	method, path string
	access       access
	limit        ipLimit
	body         body
	twoFactor    bool
	handle       action
}

// routes is the one table of the service's routes, of both surfaces. Every
// anonymous route that costs work is under a per-IP limit (when set):
// registration; a login, its second step and the token endpoint (each
// challenge also dies after auth.MaxChallengeFailures wrong codes); a reset.
// Where the two contracts agree, the two surfaces share an action.
var routes = []route{
	// The Holberton routes (see New): forms, multipart or JSON, and
	// {"message"} replies.
	{dialect: holberton, method: "GET", path: "/{$}", handle: (*Handler).home},
	{dialect: holberton, method: "POST", path: "/users", limit: registerLimit, body: formOf("email", "password", "username", "phone"), handle: (*Handler).register},
	{dialect: holberton, method: "POST", path: "/sessions", limit: loginLimit, body: formOf("email", "password"), handle: (*Handler).login},
	{dialect: holberton, method: "DELETE", path: "/sessions", access: accessUser, handle: (*Handler).logout},
	{dialect: holberton, method: "POST", path: "/sessions/mfa", limit: loginLimit, body: formOf("mfa_token", "code", "recovery_code"), handle: (*Handler).completeLogin},
	{dialect: holberton, method: "GET", path: "/profile", access: accessUser, twoFactor: true, handle: (*Handler).profile},
	{dialect: holberton, method: "POST", path: "/profile/totp", access: accessUser, handle: (*Handler).enrollTOTP},
	{dialect: holberton, method: "DELETE", path: "/profile/totp", access: accessUser, body: formOf("password", "code"), handle: (*Handler).removeTOTP},
	{dialect: holberton, method: "GET", path: "/profile/totp/qr.png", access: accessUser, handle: (*Handler).totpQR},
	{dialect: holberton, method: "POST", path: "/profile/totp/confirm", access: accessUser, body: formOf("code", "password"), handle: (*Handler).confirmTOTP},
	{dialect: holberton, method: "POST", path: "/profile/recovery_codes", access: accessUser, body: formOf("password", "code"), handle: (*Handler).regenerateRecoveryCodes},
	{dialect: holberton, method: "POST", path: "/reset_password", limit: resetLimit, body: formOf("email"), handle: (*Handler).requestReset},
	{dialect: holberton, method: "PUT", path: "/reset_password", limit: resetLimit, body: formOf("email", "reset_token", "new_password"), handle: (*Handler).resetPassword},

	// The API v1 (see V1): JSON objects with exactly their fields (the
	// token endpoint takes forms too, as OAuth clients send them), and
	// {"error": {...}} replies.
	{dialect: apiV1, method: "GET", path: "/openapi.json", handle: (*Handler).v1OpenAPI},

	{dialect: apiV1, method: "POST", path: "/users", limit: registerLimit, body: jsonOf(required("email"), required("password"), optional("username"), optional("phone")), handle: (*Handler).v1Register},
	{dialect: apiV1, method: "POST", path: "/sessions", limit: loginLimit, body: jsonOf(required("identifier"), required("password"), flag("token")), handle: (*Handler).v1Login},
	{dialect: apiV1, method: "POST", path: "/sessions/second-factor", limit: loginLimit, body: jsonOf(required("mfa_token"), optional("code"), optional("recovery_code"), flag("token")), handle: (*Handler).v1SecondFactor},
	{dialect: apiV1, method: "POST", path: "/token", limit: loginLimit, body: formOf("grant_type", "username", "password", "refresh_token", "mfa_token", "code", "recovery_code"), handle: (*Handler).v1Token},
	{dialect: apiV1, method: "DELETE", path: "/sessions/current", access: accessUser, handle: (*Handler).v1Logout},

	{dialect: apiV1, method: "GET", path: "/me", access: accessUser, twoFactor: true, handle: (*Handler).v1Me},
	{dialect: apiV1, method: "PATCH", path: "/me", access: accessUser, body: jsonOf(optional("username"), optional("email"), optional("phone"), optional("current_password")), handle: (*Handler).v1UpdateMe},
	{dialect: apiV1, method: "DELETE", path: "/me", access: accessUser, body: jsonOf(required("password"), optional("code")), handle: (*Handler).v1DeleteMe},
	{dialect: apiV1, method: "POST", path: "/me/password", access: accessUser, body: jsonOf(required("current_password"), required("new_password")), handle: (*Handler).v1ChangePassword},
	{dialect: apiV1, method: "GET", path: "/me/sessions", access: accessUser, handle: (*Handler).v1Sessions},
	{dialect: apiV1, method: "DELETE", path: "/me/sessions", access: accessUser, handle: (*Handler).v1RevokeOtherSessions},
	{dialect: apiV1, method: "DELETE", path: "/me/sessions/{id}", access: accessUser, handle: (*Handler).v1RevokeSession},
	{dialect: apiV1, method: "GET", path: "/me/second-factor", access: accessUser, handle: (*Handler).v1TwoFactor},
	{dialect: apiV1, method: "POST", path: "/me/second-factor/totp", access: accessUser, handle: (*Handler).enrollTOTP},
	{dialect: apiV1, method: "DELETE", path: "/me/second-factor/totp", access: accessUser, body: jsonOf(required("password"), required("code")), handle: (*Handler).v1RemoveTOTP},
	{dialect: apiV1, method: "GET", path: "/me/second-factor/totp/qr.png", access: accessUser, handle: (*Handler).totpQR},
	{dialect: apiV1, method: "POST", path: "/me/second-factor/totp/confirm", access: accessUser, body: jsonOf(required("code"), required("password")), handle: (*Handler).confirmTOTP},
	{dialect: apiV1, method: "POST", path: "/me/second-factor/recovery-codes", access: accessUser, body: jsonOf(required("password"), required("code")), handle: (*Handler).regenerateRecoveryCodes},

	{dialect: apiV1, method: "POST", path: "/password-reset", limit: resetLimit, body: jsonOf(required("email")), handle: (*Handler).v1RequestReset},
	{dialect: apiV1, method: "POST", path: "/password-reset/confirm", limit: resetLimit, body: jsonOf(required("email"), required("token"), required("new_password")), handle: (*Handler).v1ConfirmReset},

	{dialect: apiV1, method: "GET", path: "/admin/users", access: accessAdmin, handle: (*Handler).v1AdminListUsers},
	{dialect: apiV1, method: "GET", path: "/admin/users/{id}", access: accessAdmin, handle: (*Handler).v1AdminUser},
	{dialect: apiV1, method: "PATCH", path: "/admin/users/{id}", access: accessAdmin, body: jsonOf(optional("username"), optional("email"), optional("phone"), flag("is_admin"), flag("disabled"), optional("disabled_reason")), handle: (*Handler).v1AdminUpdateUser},
	{dialect: apiV1, method: "DELETE", path: "/admin/users/{id}", access: accessAdmin, handle: (*Handler).v1AdminDeleteUser},
	{dialect: apiV1, method: "PUT", path: "/admin/users/{id}/password", access: accessAdmin, body: jsonOf(required("new_password")), handle: (*Handler).v1AdminSetPassword},
	{dialect: apiV1, method: "DELETE", path: "/admin/users/{id}/sessions", access: accessAdmin, handle: (*Handler).v1AdminRevokeSessions},
	{dialect: apiV1, method: "DELETE", path: "/admin/users/{id}/second-factor", access: accessAdmin, handle: (*Handler).v1AdminRemoveTOTP},
	{dialect: apiV1, method: "GET", path: "/admin/audit", access: accessAdmin, handle: (*Handler).v1AdminAudit},
}

// v1Routes is the API v1's part of routes: the paths and methods the
// OpenAPI document describes (a test compares the two).
var v1Routes = routesOf(apiV1)

// routesOf is the routes of dialect d, in the table's order.
func routesOf(d dialect) []route {
	var out []route
	for _, rt := range routes {
		if rt.dialect == d {
			out = append(out, rt)
		}
	}
	return out
}

// surface is the handler of dialect d's routes behind the service's
// middleware: the request's client and deadline, the access log, panics,
// and the cross-origin check, which runs before routing so that an unknown
// path reveals nothing a known one would not.
func (h *Handler) surface(d dialect) http.Handler {
	return h.withClientAndDeadline(h.accessLog(h.recoverPanics(h.crossOrigin(d, h.dispatch(d)))))
}

// newMux puts the routes of dialect d on a ServeMux, behind the plumbing
// (handler). A catch-all answers what no route serves: a request a route
// serves costs one lookup, one no route serves a second one, in known (the
// same routes without the catch-all), for the 405's Allow.
func (h *Handler) newMux(d dialect) *http.ServeMux {
	mux, known := http.NewServeMux(), http.NewServeMux()
	for _, rt := range routesOf(d) {
		next := h.handler(rt)
		mux.Handle(rt.method+" "+rt.path, next)
		known.Handle(rt.method+" "+rt.path, next)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.unrouted(d, w, r, known) })
	return mux
}

// mux is the ServeMux of dialect d's routes, read on every request (a test
// puts probes in h.routes).
func (h *Handler) mux(d dialect) *http.ServeMux {
	if d == apiV1 {
		return h.v1Mux
	}
	return h.routes
}

// handler is rt behind the plumbing every route goes through, in this
// order: its per-IP limit, before anything else costs work; its access
// (admit); its body; its action. Any error on the way is answered in rt's
// dialect.
func (h *Handler) handler(rt route) http.HandlerFunc {
	l := h.limiter(rt.limit)
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.serve(&rt, l, w, r); err != nil {
			h.writeErrorIn(rt.dialect, w, r, err)
		}
	}
}

// serve runs rt's plumbing and action for r (see handler); l is rt's
// limiter.
func (h *Handler) serve(rt *route, l *ipLimiter, w http.ResponseWriter, r *http.Request) error {
	if l != nil {
		// Refused before the body is read or auth is called: 429, with
		// Retry-After and the body of auth's throttle.
		if ok, wait := l.allow(stateOf(r.Context()).client.Addr); !ok {
			return &auth.ThrottledError{RetryAfter: wait}
		}
	}
	if rt.twoFactor {
		stateOf(r.Context()).wantTwoFactor = true // before authenticate reads the session
	}
	r, err := h.admit(r, rt.access)
	if err != nil {
		return err
	}
	f, err := h.decodeBody(w, r, rt.body)
	if err != nil {
		return err
	}
	return rt.handle(h, w, r, f)
}

// admit checks that the request may call a route of access a: a user's
// route needs a valid session (auth.ErrInvalidSession, which each dialect
// answers in its way, otherwise), an administrator's a user who is one
// (ErrAdminRequired). It returns the request with its session named as the
// actor of the writes it makes: an administrator's calls are recorded in
// the audit trail as the administrator's (auth.ActorAdmin), and a user's
// writes as the user's (auth.ActorUser). auth checks again, in the
// transaction of each write, that the session is alive and that the
// administrator still is one, so that a write cannot commit after a
// revocation or demotion that committed while the request ran, or that
// the session cache did not see yet. A user's safe methods name no actor:
// they write nothing, and GET /me stays free of the context it would cost.
func (h *Handler) admit(r *http.Request, a access) (*http.Request, error) {
	if a == accessPublic {
		return r, nil
	}
	if err := h.authenticate(r); err != nil {
		return r, err
	}
	st := stateOf(r.Context())
	kind := auth.ActorUser
	switch {
	case !st.ok:
		return r, auth.ErrInvalidSession
	case a == accessAdmin && !st.user.IsAdmin:
		return r, ErrAdminRequired
	case a == accessAdmin:
		kind = auth.ActorAdmin
	case !unsafeMethod(r.Method):
		return r, nil
	}
	return r.WithContext(auth.WithActor(r.Context(), auth.Actor{Kind: kind, UserID: st.user.ID, SessionID: st.session.ID})), nil
}

// crossOrigin refuses cross-origin browser requests with unsafe methods
// (http.CrossOriginProtection, with Options.TrustedOrigins), in dialect d,
// but for those that carry a bearer token when d lets them through
// (checksBearer).
func (h *Handler) crossOrigin(d dialect, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unsafeMethod(r.Method) {
			if _, bearer := h.credentials(r); (d.checksBearer() || !bearer) && h.csrf.Check(r) != nil {
				h.writeErrorIn(d, w, r, ErrCrossOrigin)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// dispatch serves dialect d's routes. A path that is not clean ("//users",
// "/profile/../users") is not found, rather than redirected as the mux
// would: no route redirects but the Holberton logout.
func (h *Handler) dispatch(d dialect) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || path.Clean(p) != p {
			h.writeErrorIn(d, w, r, errRouteNotFound)
			return
		}
		h.mux(d).ServeHTTP(w, r)
	})
}

// unrouted answers a request that no route of known (the routes of a
// surface, without its catch-all) serves: 405 with Allow when a route
// serves its path with another method, else 404, as the mux's own replies
// would be (which are plain text) but in dialect d.
func (h *Handler) unrouted(d dialect, w http.ResponseWriter, r *http.Request, known *http.ServeMux) {
	next, _ := known.Handler(r)
	if allow, ok := methodNotAllowed(next, r); ok {
		w.Header().Set("Allow", allow)
		h.writeErrorIn(d, w, r, errMethodNotAllowed)
		return
	}
	h.writeErrorIn(d, w, r, errRouteNotFound)
}

// methodNotAllowed runs the handler a mux gave for a request no route
// serves (its own 404, 405 or redirect) without writing anything, and
// reports whether it is the 405, with the methods its Allow header names.
func methodNotAllowed(muxReply http.Handler, r *http.Request) (allow string, ok bool) {
	probe := &headerProbe{header: http.Header{}}
	muxReply.ServeHTTP(probe, r)
	return probe.header.Get("Allow"), probe.status == http.StatusMethodNotAllowed
}

// headerProbe records the status and headers of the mux's own 404 or 405
// reply, and drops its plain-text body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// errRouteNotFound is a path no route serves; it is auth.ErrNotFound to
// the error table.
var errRouteNotFound = &notFoundError{}

type notFoundError struct{}

func (*notFoundError) Error() string        { return "not found" }
func (*notFoundError) Is(target error) bool { return target == auth.ErrNotFound }
