package authhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/credstore/credstore/auth"
)

// DefaultCookieName is the name of the session cookie when
// CookieOptions.Name is empty.
const DefaultCookieName = "session_id"

// DeviceCookieName is the name of the device cookie: the token auth hands
// to a browser that logged in successfully, so that the account's owner,
// logging in again from it, is throttled apart from everyone else's failed
// attempts on the account (auth.LoginWithDevice). Logout leaves it. It
// takes the session cookie's Secure, Domain and Path.
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

// Options configures a Handler. The zero value is ready to use.
type Options struct {
	// Cookie sets the session cookie's name and attributes.
	Cookie CookieOptions

	// ExposeResetToken makes POST /reset_password return the reset token in
	// its body instead of only delivering it, and answer an address without
	// an account 403. It exists for the API's existing clients and tests; it
	// lets anyone who knows an address take over its account, and tells
	// anyone which addresses have accounts, so never set it on a service
	// users rely on.
	ExposeResetToken bool

	// MaxBodyBytes bounds request bodies; larger ones get 413.
	// Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// RequestTimeout bounds the work of one request to the service's
	// routes. When it passes, the request's context ends: work that has not
	// committed yet is abandoned (auth runs its transactions in that
	// context, and a transaction whose context has ended does not commit),
	// and the reply is 503 with Retry-After. Keep it a few seconds below
	// the server's WriteTimeout, so that the 503 can still be written.
	// Default: DefaultRequestTimeout; negative: no deadline of the
	// handler's own (the request's context still ends when the client goes
	// away). The application's own routes keep their own deadlines.
	RequestTimeout time.Duration

	// TrustedOrigins lists the origins ("https://app.example.com": scheme,
	// host and port, nothing else) whose cross-origin browser requests may
	// change state. Every other cross-origin POST, PUT, PATCH or DELETE
	// from a browser is refused with 403 (see http.CrossOriginProtection):
	// every such request to the service's routes, and every such request
	// to the application's routes that carries the session cookie.
	// Same-origin requests, and requests from clients that are not
	// browsers (which send neither Origin nor Sec-Fetch-Site), always
	// pass.
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
	// LoginLimit also bounds the second step of a login (POST
	// /sessions/mfa, POST /api/v1/sessions/second-factor) and the token
	// endpoint (POST /api/v1/token), which are logins too: a login with a
	// second factor costs two requests of it.
	//
	// ResetLimit bounds the password-reset routes (POST and PUT
	// /reset_password, POST /api/v1/password-reset and its /confirm) per
	// client address, likewise. Without it one client sending requests for
	// addresses without accounts fills the work a reset request leaves
	// after its reply, and everybody else's reset requests get 503.
	ResetLimit Limit

	// Logger receives the access log and server errors. Default:
	// slog.Default().
	Logger *slog.Logger

	// Now is the handler's clock: the per-IP limits and the access log's
	// durations. Sessions and tokens expire on the store's clock
	// (auth.Config.Now). Default: time.Now.
	Now func() time.Time
}

// CookieOptions are the session cookie's name and attributes. The cookie
// is always HttpOnly.
type CookieOptions struct {
	// Name: default DefaultCookieName, the Holberton contract's. Served
	// over HTTPS, a name beginning with "__Host-" (such as
	// "__Host-session_id") makes browsers keep the cookie for this host
	// alone, Secure, with Path=/ and no Domain: no sibling subdomain can
	// then set a session cookie ahead of the user's own (cookie tossing).
	// Such a name needs Secure, Path "/" and no Domain; "__Secure-" needs
	// Secure. New refuses the options otherwise.
	Name string
	// Secure makes browsers send the cookie over HTTPS only. Set it
	// whenever the service is reached over HTTPS.
	Secure bool
	// SameSite: default http.SameSiteLaxMode. http.SameSiteNoneMode needs
	// Secure.
	SameSite http.SameSite
	// Domain: default none, the cookie goes to the host that set it only.
	Domain string
	// Path: default "/". Mounted under a prefix, the service's cookie
	// must still reach the application's own routes, so narrow it only
	// when nothing outside the prefix authenticates.
	Path string
}

// Handler serves credstore's HTTP API over an auth.Store (ServeHTTP), and
// gives an application the middleware that authenticates its own routes
// (Authenticate, RequireUser, RequireAdmin). Create it with New.
type Handler struct {
	store   *auth.Store
	opts    Options
	log     *slog.Logger
	csrf    *http.CrossOriginProtection
	routes  *http.ServeMux // the Holberton routes (newMux)
	v1Mux   *http.ServeMux // the API v1's routes
	service http.Handler   // routes behind the service's middleware (surface)
	v1      http.Handler   // the API v1 behind its middleware (V1)

	// The per-IP limits, shared by the Holberton routes and the API v1.
	loginLimiter, registerLimiter, resetLimiter *ipLimiter

	// Reset messages being delivered after their reply (see
	// requestReset): a slot each, at most maxPendingResets.
	resetSlots chan struct{}
	deliveries sync.WaitGroup
}

// New returns the Handler of store. Its ServeHTTP serves the service's
// routes:
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
//	POST   /reset_password         issue and deliver a reset token for email
//	PUT    /reset_password         set new_password with email and reset_token
//
// The routes are relative to where the handler is mounted: an application
// serves them under a prefix with http.StripPrefix
// (mux.Handle("/auth/", http.StripPrefix("/auth", h))).
//
// The routes that need a session (/profile..., DELETE /sessions) take the
// session cookie or an "Authorization: Bearer <session token>" header, and
// answer 403 without either; those that change the factor keep the session
// that asks and end the user's others. Enrolling answers 503 when the store
// has no auth.Config.SecretKeys.
//
// Unknown paths get 404 and known paths with another method 405 (with
// Allow), as JSON; cross-origin browser requests that change state get 403;
// panics become a JSON 500 that reveals nothing. Every request's context
// carries its client (auth.WithClient: address and User-Agent) for auth's
// audit trail. With Options.LoginLimit, RegisterLimit or ResetLimit, a
// client over its limit gets 429.
//
// The only errors are invalid Options: a TrustedOrigins or TrustedProxies
// entry, a limit, or the cookie's name or attributes.
func New(store *auth.Store, opts Options) (*Handler, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cookie, err := opts.Cookie.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.Cookie = cookie
	proxies, err := normalizePrefixes(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	opts.TrustedProxies = proxies
	if err := errors.Join(opts.LoginLimit.check("LoginLimit"), opts.RegisterLimit.check("RegisterLimit"), opts.ResetLimit.check("ResetLimit")); err != nil {
		return nil, err
	}
	h := &Handler{store: store, opts: opts, log: opts.Logger, resetSlots: make(chan struct{}, maxPendingResets)}
	if h.csrf, err = h.crossOriginProtection(); err != nil {
		return nil, err
	}
	h.loginLimiter = newIPLimiter(h.opts.LoginLimit, h.opts.Now)
	h.registerLimiter = newIPLimiter(h.opts.RegisterLimit, h.opts.Now)
	h.resetLimiter = newIPLimiter(h.opts.ResetLimit, h.opts.Now)
	h.routes, h.v1Mux = h.newMux(holberton), h.newMux(apiV1)
	h.service, h.v1 = h.surface(holberton), h.surface(apiV1)
	return h, nil
}

// withDefaults fills in c's defaults and checks it.
func (c CookieOptions) withDefaults() (CookieOptions, error) {
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	if c.SameSite == http.SameSiteNoneMode && !c.Secure {
		return c, errors.New("authhttp: cookie: SameSite=None needs Secure")
	}
	// The cookie prefixes of RFC 6265bis: a browser drops a cookie that
	// breaks its prefix's rule, which would log every user out silently.
	switch {
	case strings.HasPrefix(c.Name, "__Host-") && (!c.Secure || c.Domain != "" || c.Path != "/"):
		return c, errors.New("authhttp: cookie: a __Host- name needs Secure, Path \"/\" and no Domain")
	case strings.HasPrefix(c.Name, "__Secure-") && !c.Secure:
		return c, errors.New("authhttp: cookie: a __Secure- name needs Secure")
	}
	probe := &http.Cookie{Name: c.Name, Value: "x", Path: c.Path, Domain: c.Domain}
	if err := probe.Valid(); err != nil {
		return c, fmt.Errorf("authhttp: cookie: %w", err)
	}
	return c, nil
}

// ServeHTTP serves the service's routes (see New).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.service.ServeHTTP(w, r)
}

// crossOriginProtection refuses cross-origin browser requests with unsafe
// methods. Applied to every route of the service that changes state
// (register, log in and its second step, log out, reset, the second
// factor's enrollment, removal and recovery codes), it keeps any web page
// from registering accounts, requesting resets, or logging its visitor in
// as the attacker (login CSRF). The session cookie's SameSite=Lax does not
// cover that last case: a login needs no cookie. The application's routes
// get the check when they are cookie-authenticated (Authenticate). The
// refusal is JSON like every other reply, in the dialect of the route
// refused (crossOrigin), so the check is called rather than mounted.
func (h *Handler) crossOriginProtection() (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	for _, o := range h.opts.TrustedOrigins {
		if err := c.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("authhttp: trusted origins: %w", err)
		}
	}
	return c, nil
}
