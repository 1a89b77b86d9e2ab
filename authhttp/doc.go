// Package authhttp is credstore's HTTP layer, for Go backends to import:
// the routes of the user authentication service over an auth.Store, and
// the middleware that authenticates an application's own routes.
//
// A Handler (New) is both. Its ServeHTTP serves the service's routes,
// mounted where the application likes:
//
//	h, err := authhttp.New(store, authhttp.Options{Cookie: authhttp.CookieOptions{Secure: true}})
//	mux.Handle("/auth/", http.StripPrefix("/auth", h))
//	mux.Handle("GET /me", h.RequireUser(meHandler))         // 401 JSON without a session
//	mux.Handle("GET /admin/", h.RequireAdmin(adminHandler)) // 403 JSON for a non-administrator
//	srv := &http.Server{Handler: h.Authenticate(mux)}       // the user, if any, for every route
//
// A handler reads the request's user with CurrentUser and its session with
// CurrentSession; a session is the session cookie or an "Authorization:
// Bearer <session token>" header (never both: a request with a bearer
// token is judged by that token alone). An application answers the errors
// of its own calls to auth with WriteError, from the same table as the
// service (ErrorReplyFor gives the status and body without writing them).
// The middleware is idempotent: each request's client and session are
// found once however many layers it passes.
//
// Handlers are thin. Each one decodes its form (HTML-form encoded, multipart
// or JSON with the same fields), calls one auth method, and encodes a JSON
// reply; every error goes through WriteError, the one table that maps auth's
// typed errors to statuses. Every reply, errors included, is JSON.
//
// Every route of the service that changes state (POST, PUT, DELETE)
// refuses cross-origin browser requests, except from
// Options.TrustedOrigins, with http.CrossOriginProtection; clients that are
// not browsers are unaffected. The application's routes get the same check
// when a request with an unsafe method presents the session cookie, which
// the browser attaches to forged requests too; a request authenticated by
// a bearer token is not checked, since no other site can make a browser
// send one.
//
// Outside Options.ExposeResetToken, POST /reset_password answers an
// address without an account exactly as one with, in the same time: the
// message is delivered after the reply (Handler.Shutdown waits for it).
//
// Under load the API sheds work instead of dropping connections: auth
// refuses a password operation at once with ErrOverloaded when its bcrypt
// gate is full, and every request runs under a deadline
// (Options.RequestTimeout) after which its work is abandoned before it
// commits. Both are answered 503 with Retry-After, and neither writes
// anything.
//
// Every request's context carries its client (auth.WithClient), for auth's
// audit trail: the peer's address, or X-Forwarded-For's client when the peer
// is one of Options.TrustedProxies, and the User-Agent. A login or reset
// that auth throttles (auth.ErrThrottled), and a client over an optional
// per-IP limit (Options.LoginLimit, RegisterLimit), are answered 429 with
// Retry-After. A login sets a device cookie besides the session's, which
// keeps the owner's browser apart from an attacker's failures.
//
// A user with a TOTP factor logs in in two steps: the right password gets
// 202 with an mfa_token and no cookie, and POST /sessions/mfa with that
// token and a code (or a recovery code) starts the session. The /profile
// routes enroll, confirm and remove the factor and renew recovery codes;
// every reply that carries a secret, an otpauth URI, a QR code or recovery
// codes is sent with Cache-Control: no-store (every JSON reply is).
//
// Nothing here logs a password, a hash, a token (session, reset, device or
// mfa), a TOTP secret or a code: the access log records the method, the
// path, the status, the duration and the peer's and client's addresses,
// and errors are logged only when they are the server's own (500) or its
// configuration's (no TOTP key: 503), whose messages auth keeps free of
// secrets.
package authhttp
