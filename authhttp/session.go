package authhttp

import (
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/credstore/credstore/auth"
)

// Authenticate is middleware for an application's routes: it finds the
// request's session and puts its user and session into the request's
// context (CurrentUser, CurrentSession), with the request's client for
// auth's audit trail (auth.WithClient, ClientAddr). A request without a
// valid session goes on anonymous: a missing, malformed, unknown or
// expired token is no error here (RequireUser makes it one).
//
// The session is read from an "Authorization: Bearer <session token>"
// header when the request has one, and from the session cookie otherwise;
// never from both. A request that sends a bearer token is judged by that
// token alone: if it is not valid, the request is anonymous, however good
// its cookie, so that the cookie, which the browser attaches to any
// request, never stands in for a token the client chose to send.
//
// A request that presents the session cookie with an unsafe method (POST,
// PUT, PATCH, DELETE) is refused with 403 JSON when it is a cross-origin
// browser request (http.CrossOriginProtection, with
// Options.TrustedOrigins), before the session is looked up: the cookie is
// ambient, so such a request may have been forged by another site. A
// request authenticated by a bearer token is not checked: a browser sends
// an Authorization header only when a script of an origin the application
// allows sets it, and a forging page does not know the token.
//
// An error of the store itself (not an invalid session) is answered with
// WriteError. Authenticate is idempotent: wrapping a mux in it, and routes
// inside that mux in RequireUser or the Handler, looks the session up
// once.
func (h *Handler) Authenticate(next http.Handler) http.Handler {
	return h.withClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.authenticate(r); err != nil {
			h.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// RequireUser is Authenticate for routes that need a user: a request
// without a valid session is answered 401 JSON (ErrAuthenticationRequired)
// and next is not called.
func (h *Handler) RequireUser(next http.Handler) http.Handler {
	return h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !stateOf(r.Context()).ok {
			h.writeError(w, r, ErrAuthenticationRequired)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// RequireAdmin is RequireUser for routes that need an administrator
// (auth.User.IsAdmin): a user who is not one is answered 403 JSON
// (ErrAdminRequired). The user's flag is read with the session, on every
// request, so a revoked administrator loses access at once.
func (h *Handler) RequireAdmin(next http.Handler) http.Handler {
	return h.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !stateOf(r.Context()).user.IsAdmin {
			h.writeError(w, r, ErrAdminRequired)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// CurrentUser returns the user of the request whose context is ctx, as
// Authenticate (or RequireUser, RequireAdmin) found it; ok is false for an
// anonymous request, or one no such middleware saw.
func CurrentUser(ctx context.Context) (u auth.User, ok bool) {
	st := stateOf(ctx)
	return st.user, st.ok
}

// CurrentSession returns the session that authenticated the request whose
// context is ctx (its Token is empty: the store keeps only its hash); ok is
// false as for CurrentUser.
func CurrentSession(ctx context.Context) (s auth.Session, ok bool) {
	st := stateOf(ctx)
	return st.session, st.ok
}

// authenticate looks up the request's session once, and records the
// result in the request's state (which withClient has put in its
// context).
func (h *Handler) authenticate(r *http.Request) error {
	st := stateOf(r.Context())
	if st.authenticated {
		return nil
	}
	tokens, bearer := h.credentials(r)
	if !bearer && unsafeMethod(r.Method) && len(cookieValues(r.Header, h.opts.Cookie.Name, 1)) > 0 {
		if err := h.csrf.Check(r); err != nil {
			return ErrCrossOrigin
		}
	}
	for _, token := range tokens {
		u, sess, err := h.lookupToken(r.Context(), st, token, bearer)
		if errors.Is(err, auth.ErrInvalidSession) {
			continue
		}
		if err != nil {
			return err
		}
		if st.ok {
			// A later cookie names a live session too. Of the same user, the
			// first stays; of another user, one of the two was planted
			// (cookie tossing from a sibling subdomain, which can put the
			// attacker's session ahead of the victim's): the request is
			// answered as neither.
			if u.ID != st.user.ID {
				h.log.WarnContext(r.Context(), "session cookies of two users; treated as unauthenticated",
					"users", []string{st.user.PublicID, u.PublicID})
				st.ok, st.user, st.session, st.token = false, auth.User{}, auth.Session{}, ""
				break
			}
			continue
		}
		st.ok, st.user, st.session, st.token = true, u, sess, token
		st.accessToken = bearer && looksLikeJWT(token)
		if bearer {
			break // one bearer token at most
		}
	}
	st.authenticated, st.bearer = true, bearer
	return nil
}

// lookupToken returns the user and the session a presented token names,
// or auth.ErrInvalidSession. It is the one place a credential becomes a
// user. A bearer token in the form of a JWT is an access token of POST
// /token: auth verifies it (signature, issuer, audience, times) and checks
// in the same read that its session is still live, so that a session
// revoked (logout, password change, an administrator) stops its access
// tokens at once rather than when they expire. Every other token, cookie
// or bearer, is a session token looked up in the store.
//
// A route that shows the user's second factor too (GET /me, GET /profile:
// its twoFactor) sets st.wantTwoFactor first, and a session token is then
// looked up with it in the same read (auth.SessionProfile), into
// st.twoFactor; an access token always is (auth.AccessTokenProfile).
func (h *Handler) lookupToken(ctx context.Context, st *requestState, token string, bearer bool) (auth.User, auth.Session, error) {
	if bearer && looksLikeJWT(token) {
		u, sess, tf, _, err := h.store.AccessTokenProfile(ctx, token)
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrNoSecretKey) {
			return auth.User{}, auth.Session{}, auth.ErrInvalidSession
		}
		if err == nil {
			st.twoFactor, st.haveTwoFactor = tf, true
		}
		return u, sess, err
	}
	if st.wantTwoFactor {
		u, sess, tf, err := h.store.SessionProfile(ctx, token)
		if err == nil {
			st.twoFactor, st.haveTwoFactor = tf, true
		}
		return u, sess, err
	}
	return h.store.SessionUser(ctx, token)
}

// unsafeMethod reports whether method may change state: anything but GET,
// HEAD and OPTIONS, as http.CrossOriginProtection counts them.
func unsafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// maxSessionCookies bounds the session cookies tried for one request, and
// so the lookups a request can cost; and the device cookies looked at.
const maxSessionCookies = 4

// credentials are the session tokens the request presents, to try in
// order, and whether they come from an Authorization header.
//
// With an "Authorization: Bearer" header, its token alone (a malformed
// header, or several, give "", which auth refuses like any invalid token).
// Other schemes (Basic, from a proxy's own login) are not this package's
// and leave the cookies in charge.
//
// Otherwise the values of the session cookies, in the order the browser
// sent them, at most maxSessionCookies; without any, one "". A request can
// carry several: a sibling subdomain may set a session_id for the parent
// domain, or one with a longer path, which browsers send first. Trying
// only the first, as r.Cookie does, would let such a planted cookie lock
// the user out; the first that names a live session wins instead.
func (h *Handler) credentials(r *http.Request) (tokens []string, bearer bool) {
	if values := r.Header.Values("Authorization"); len(values) > 0 {
		scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
		if strings.EqualFold(scheme, "Bearer") {
			if len(values) > 1 {
				token = ""
			}
			return []string{strings.TrimSpace(token)}, true
		}
	}
	tokens = cookieValues(r.Header, h.opts.Cookie.Name, maxSessionCookies)
	if len(tokens) == 0 {
		return []string{""}, false
	}
	return tokens, false
}

// cookieValues returns the values of the cookies named name that header
// carries, at most limit of them, as r.CookiesNamed(name) gives them, but
// without making a Cookie of each (FuzzCookieValues compares the two).
// name must be a valid cookie name.
func cookieValues(header http.Header, name string, limit int) []string {
	var values []string
	for _, line := range header["Cookie"] {
		line = textproto.TrimString(line)
		for line != "" && len(values) < limit {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(n) != name {
				continue
			}
			// As net/http's parseCookieValue: one pair of double quotes
			// is taken off, and a value with any other byte than these
			// is skipped.
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if strings.IndexFunc(v, func(c rune) bool { return c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' }) >= 0 {
				continue
			}
			if values == nil {
				values = make([]string, 0, 1)
			}
			values = append(values, v)
		}
	}
	return values
}
