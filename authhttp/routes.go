package authhttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/credstore/credstore/auth"
)

// message is the body of most replies.
type message struct {
	Message string `json:"message"`
}

type emailMessage struct {
	Email   string `json:"email"`
	Message string `json:"message"`
}

func (a *api) home(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, message{"Bienvenue"})
}

func (a *api) register(w http.ResponseWriter, r *http.Request) {
	f, err := a.decode(w, r, "email", "password", "username", "phone")
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	u, err := a.store.Register(r.Context(), auth.Registration{
		Email: f["email"], Password: f["password"], Username: f["username"], Phone: f["phone"],
	})
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, emailMessage{u.Email, "user created"})
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	f, err := a.decode(w, r, "email", "password")
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	// auth.Login also takes usernames; this API logs in by email only.
	// Refusing a value without '@' up front reveals nothing: its shape is
	// the caller's own input.
	if !strings.Contains(f["email"], "@") {
		a.replyError(w, r, auth.ErrInvalidCredentials)
		return
	}
	res, err := a.store.LoginWithDevice(r.Context(), auth.LoginAttempt{
		Identifier: f["email"], Password: f["password"], DeviceToken: deviceToken(r),
	})
	var mfa *auth.SecondFactorRequiredError
	if errors.As(err, &mfa) {
		// The password was right and the user has a second factor: no
		// session yet, and no cookie, but the token of the login's
		// challenge, to send back with a code to POST /sessions/mfa. 202:
		// accepted, not completed. Not an error reply, so not in the table.
		writeJSON(w, http.StatusAccepted, struct {
			Message  string `json:"message"`
			MFAToken string `json:"mfa_token"`
		}{"second factor required", mfa.Challenge})
		return
	}
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	a.startSession(w, res)
	writeJSON(w, http.StatusOK, emailMessage{res.User.Email, "logged in"})
}

// startSession sets the cookies of a completed login: the session's, and
// the device's when auth issued or renewed one.
func (a *api) startSession(w http.ResponseWriter, res auth.LoginResult) {
	sess := res.Session
	http.SetCookie(w, a.sessionCookie(sess.Token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
	// Measured from the session's creation, which is the login's moment
	// on the store's clock, as the device's expiry is.
	if maxAge := int(res.DeviceExpiresAt.Sub(sess.CreatedAt).Seconds()); res.DeviceToken != "" && maxAge > 0 {
		http.SetCookie(w, a.deviceCookie(res.DeviceToken, maxAge))
	}
}

// logout ends the session and clears its cookie, but leaves the device
// cookie: it is what keeps the owner's own logins apart from an attacker's
// failures on the account, and the owner needs it most on their next login.
func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	err := auth.ErrInvalidSession
	for _, token := range sessionTokens(r) {
		if err = a.store.DestroySession(r.Context(), token); !errors.Is(err, auth.ErrInvalidSession) {
			break
		}
	}
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	http.SetCookie(w, a.sessionCookie("", -1)) // tells the browser to drop it
	// A redirect, as the API's clients expect, with a JSON body like every
	// other reply (http.Redirect would send none to a DELETE, and HTML to
	// a GET).
	w.Header().Set("Location", "/")
	writeJSON(w, http.StatusFound, message{"logged out"})
}

// profile shows the session's user and their second factor, read with the
// session in one query: it is the service's hottest route.
func (a *api) profile(w http.ResponseWriter, r *http.Request) {
	var (
		u   auth.User
		st  auth.TwoFactorStatus
		err = auth.ErrInvalidSession
	)
	for _, token := range sessionTokens(r) {
		if u, _, st, err = a.store.SessionProfile(r.Context(), token); !errors.Is(err, auth.ErrInvalidSession) {
			break
		}
	}
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Email             string `json:"email"`
		TOTPEnabled       bool   `json:"totp_enabled"`
		RecoveryCodesLeft int    `json:"recovery_codes_left"`
	}{u.Email, st.TOTPEnabled, st.RecoveryCodesLeft})
}

// session returns the user and the session of the request's session
// cookie: the first of sessionTokens that names a live session, or
// auth.ErrInvalidSession.
func (a *api) session(r *http.Request) (auth.User, auth.Session, error) {
	var (
		u    auth.User
		sess auth.Session
		err  = auth.ErrInvalidSession
	)
	for _, token := range sessionTokens(r) {
		if u, sess, err = a.store.SessionUser(r.Context(), token); !errors.Is(err, auth.ErrInvalidSession) {
			break
		}
	}
	return u, sess, err
}

func (a *api) requestReset(w http.ResponseWriter, r *http.Request) {
	f, err := a.decode(w, r, "email")
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	reset, err := a.store.RequestPasswordReset(r.Context(), f["email"])
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	if a.opts.ExposeResetToken {
		writeJSON(w, http.StatusOK, struct {
			Email      string `json:"email"`
			ResetToken string `json:"reset_token"`
		}{f["email"], reset.Token})
		return
	}
	writeJSON(w, http.StatusOK, emailMessage{f["email"], "a reset token has been sent to this address"})
}

func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) {
	f, err := a.decode(w, r, "email", "reset_token", "new_password")
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	if err := a.store.ResetPassword(r.Context(), f["email"], f["reset_token"], f["new_password"]); err != nil {
		a.replyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, emailMessage{f["email"], "Password updated"})
}

// maxSessionCookies bounds the session cookies tried for one request, and
// so the lookups a request can cost; and the device cookies looked at.
const maxSessionCookies = 4

// sessionTokens are the values of the request's session cookies, in the
// order the browser sent them, at most maxSessionCookies; without any, one
// "" (which auth refuses like any other invalid token). A request can carry
// several: a sibling subdomain may set a session_id for the parent domain,
// or one with a longer path, which browsers send first. Trying only the
// first, as r.Cookie does, would let such a planted cookie lock the user
// out; the first that names a live session wins instead.
func sessionTokens(r *http.Request) []string {
	cookies := r.CookiesNamed(CookieName)
	if len(cookies) == 0 {
		return []string{""}
	}
	tokens := make([]string, 0, min(len(cookies), maxSessionCookies))
	for _, c := range cookies[:min(len(cookies), maxSessionCookies)] {
		tokens = append(tokens, c.Value)
	}
	return tokens
}

func (a *api) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   a.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
}

// deviceToken is the device cookie the browser sent: the first non-empty
// one of at most maxSessionCookies, "" for none. A planted device_id sent
// before the browser's own (see sessionTokens) costs the owner only the
// device's separate throttle count for that login, not access; auth takes
// a single token, and ignores one it did not hand out to this account.
func deviceToken(r *http.Request) string {
	cookies := r.CookiesNamed(DeviceCookieName)
	for _, c := range cookies[:min(len(cookies), maxSessionCookies)] {
		if c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// deviceCookie is the device cookie holding token, a bearer secret like
// the session's: HttpOnly, and Secure with Options.SecureCookies.
// SameSite=Strict rather than the session's Lax: only POST /sessions and
// POST /sessions/mfa read it, which are same-origin unless
// Options.TrustedOrigins says otherwise (http.CrossOriginProtection), and a
// cross-site trusted origin's POST would not carry a Lax cookie either (Lax
// adds only top-level GET navigations), while a same-site one carries
// Strict cookies too. Strict thus loses no login, and keeps the cookie off
// every request another site starts.
func (a *api) deviceCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     DeviceCookieName,
		Value:    token,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   a.opts.SecureCookies,
		SameSite: http.SameSiteStrictMode,
	}
}
