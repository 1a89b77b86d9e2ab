package authhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/credstore/credstore/auth"
)

// CookieName is the name of the session cookie.
const CookieName = "session_id"

// DeviceCookieName is the name of the device cookie: the token auth hands
// to a browser that logged in successfully, so that the account's owner,
// logging in again from it, is throttled apart from everyone else's failed
// attempts on the account (auth.LoginWithDevice). Logout leaves it.
const DeviceCookieName = "device_id"

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
// Every form of this API fits in a few hundred bytes.
const DefaultMaxBodyBytes = 64 << 10

// DefaultRequestTimeout bounds a request's work when Options.RequestTimeout
// is 0. A registration or a login takes one bcrypt hash (about a quarter of
// a second at cost 12) plus at most two more of waiting at auth's hash gate;
// anything much slower is better abandoned than finished for a client that
// has given up.
const DefaultRequestTimeout = 10 * time.Second

// Options configures the API. The zero value is ready to use.
type Options struct {
	// SecureCookies marks the session cookie Secure, so browsers send it
	// over HTTPS only. Set it whenever the service is reached over HTTPS.
	SecureCookies bool

	// ExposeResetToken makes POST /reset_password return the reset token in
	// its body instead of only delivering it. It exists for the API's
	// existing clients and tests; it lets anyone who knows an address take
	// over its account, so never set it on a service users rely on.
	ExposeResetToken bool

	// MaxBodyBytes bounds request bodies; larger ones get 413.
	// Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// RequestTimeout bounds the work of one request. When it passes, the
	// request's context ends: work that has not committed yet is abandoned
	// (auth runs its transactions in that context, and a transaction whose
	// context has ended does not commit), and the reply is 503 with
	// Retry-After. Keep it a few seconds below the server's WriteTimeout, so
	// that the 503 can still be written. Default: DefaultRequestTimeout;
	// negative: no deadline of the API's own (the request's context still
	// ends when the client goes away).
	RequestTimeout time.Duration

	// TrustedOrigins lists the origins ("https://app.example.com": scheme,
	// host and port, nothing else) whose cross-origin browser requests may
	// change state. Every other cross-origin POST, PUT or DELETE from a
	// browser is refused with 403 (see http.CrossOriginProtection);
	// same-origin requests, and requests from clients that are not browsers
	// (which send neither Origin nor Sec-Fetch-Site), always pass.
	TrustedOrigins []string

	// TrustedProxies lists the reverse proxies (load balancers, TLS
	// terminators) in front of the service, by address or network. A
	// request whose peer is inside one of them is taken to come from the
	// client its X-Forwarded-For names, read from the right past every
	// trusted address; any other request comes from its peer, and its
	// X-Forwarded-For is ignored, since anyone can send one. The client's
	// address goes to auth's audit trail, the access log, and the per-IP
	// limits. Default: none, so X-Forwarded-For is never believed.
	TrustedProxies []netip.Prefix

	// LoginLimit and RegisterLimit bound POST /sessions and POST /users per
	// client address (an IPv6 client by its /64), before the body is read
	// or auth is called; a client over its limit gets 429 with Retry-After.
	// auth already throttles failed logins per account; these bound what
	// one address can cost the server in bcrypt work and, for
	// registrations, in accounts. They count in this process's memory:
	// each instance of the service has its own, and a restart forgets them.
	// Default: zero, no limit, because behind a reverse proxy that is not
	// in TrustedProxies every client shares the proxy's address.
	LoginLimit    Limit
	RegisterLimit Limit

	// Logger receives the access log and server errors. Default:
	// slog.Default().
	Logger *slog.Logger
}

// api holds the handlers' dependencies.
type api struct {
	store  *auth.Store
	opts   Options
	log    *slog.Logger
	routes map[string]map[string]http.HandlerFunc // path → method → handler
}

// New returns the API's handler over store:
//
//	GET    /                       {"message": "Bienvenue"}
//	POST   /users                  register (email, password, optional username and phone)
//	POST   /sessions               log in (email, password); sets the session_id and device_id cookies,
//	                               or 202 {"mfa_token": T} for a user with a second factor
//	POST   /sessions/mfa           complete such a login (mfa_token, and code or recovery_code)
//	DELETE /sessions               log out; 302 to /
//	GET    /profile                {"email", "totp_enabled", "recovery_codes_left"} of the session's user
//	POST   /profile/totp           start a TOTP enrollment: {"secret", "otpauth_uri"}
//	GET    /profile/totp/qr.png    the pending enrollment's QR code
//	POST   /profile/totp/confirm   activate it (code): {"recovery_codes"}
//	DELETE /profile/totp           remove the factor (password, code)
//	POST   /profile/recovery_codes new recovery codes (password, code): {"recovery_codes"}
//	POST   /reset_password         issue a reset token for email
//	PUT    /reset_password         set new_password with email and reset_token
//
// The /profile routes need the session cookie; those that change the
// factor keep the session that asks and end the user's others. Enrolling
// answers 503 when the store has no auth.Config.SecretKeys.
//
// Unknown paths get 404 and known paths with another method 405, as JSON;
// cross-origin browser requests that change state get 403; panics become a
// JSON 500 that reveals nothing. Every request's context carries its client
// (auth.WithClient: address and User-Agent) for auth's audit trail. With
// Options.LoginLimit or RegisterLimit, a client over its limit gets 429. The
// only errors are invalid Options: a TrustedOrigins or TrustedProxies entry,
// or a limit.
func New(store *auth.Store, opts Options) (http.Handler, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	proxies, err := normalizePrefixes(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	opts.TrustedProxies = proxies
	if err := errors.Join(opts.LoginLimit.check("LoginLimit"), opts.RegisterLimit.check("RegisterLimit")); err != nil {
		return nil, err
	}
	a := &api{store: store, opts: opts, log: opts.Logger}
	// POST /sessions/mfa is not under LoginLimit: it costs no bcrypt, and
	// each challenge, which only a right password gets, dies after
	// auth.MaxChallengeFailures wrong codes, so POST /sessions's limit
	// already bounds the codes one address can try.
	a.routes = map[string]map[string]http.HandlerFunc{
		"/":                       {http.MethodGet: a.home},
		"/users":                  {http.MethodPost: limited(newIPLimiter(opts.RegisterLimit), a.register)},
		"/sessions":               {http.MethodPost: limited(newIPLimiter(opts.LoginLimit), a.login), http.MethodDelete: a.logout},
		"/sessions/mfa":           {http.MethodPost: a.completeLogin},
		"/profile":                {http.MethodGet: a.profile},
		"/profile/totp":           {http.MethodPost: a.enrollTOTP, http.MethodDelete: a.removeTOTP},
		"/profile/totp/qr.png":    {http.MethodGet: a.totpQR},
		"/profile/totp/confirm":   {http.MethodPost: a.confirmTOTP},
		"/profile/recovery_codes": {http.MethodPost: a.regenerateRecoveryCodes},
		"/reset_password":         {http.MethodPost: a.requestReset, http.MethodPut: a.resetPassword},
	}
	return a.handler()
}

// handler is the API's middleware around its routes: the client first, so
// that the access log and every refusal know who sent the request.
func (a *api) handler() (http.Handler, error) {
	csrf, err := a.crossOriginProtection()
	if err != nil {
		return nil, err
	}
	return a.withClient(a.accessLog(a.recoverPanics(csrf.Handler(a.deadline(http.HandlerFunc(a.route)))))), nil
}

// crossOriginProtection refuses cross-origin browser requests with unsafe
// methods (every route that changes state: register, log in and its second
// step, log out, reset, the second factor's enrollment, removal and
// recovery codes), which would otherwise let any web page register
// accounts, request resets, or log its visitor in as the attacker (login
// CSRF). The session cookie's SameSite=Lax does not cover that last case: a
// login needs no cookie. The refusal is JSON like every other reply.
func (a *api) crossOriginProtection() (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	for _, o := range a.opts.TrustedOrigins {
		if err := c.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("authhttp: trusted origins: %w", err)
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The origin is the other site's, never a secret; logging it tells
		// an operator which origin to trust when a legitimate front end is
		// refused.
		a.log.InfoContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		writeJSON(w, http.StatusForbidden, errorBody{Message: "cross-origin request refused"})
	}))
	return c, nil
}

// route dispatches on the exact path, then the method. A table rather than
// http.ServeMux, because the mux answers 404 and 405 in plain text and
// every reply of this API is JSON.
func (a *api) route(w http.ResponseWriter, r *http.Request) {
	methods, ok := a.routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, message{"not found"})
		return
	}
	h, ok := methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = methods[http.MethodGet]
	}
	if !ok {
		allowed := make([]string, 0, len(methods))
		for m := range methods {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, message{"method not allowed"})
		return
	}
	h(w, r)
}
