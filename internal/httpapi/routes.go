package httpapi

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
	u, sess, err := a.store.LoginSession(r.Context(), f["email"], f["password"])
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	http.SetCookie(w, a.sessionCookie(sess.Token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
	writeJSON(w, http.StatusOK, emailMessage{u.Email, "logged in"})
}

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

func (a *api) profile(w http.ResponseWriter, r *http.Request) {
	var (
		u   auth.User
		err = auth.ErrInvalidSession
	)
	for _, token := range sessionTokens(r) {
		if u, _, err = a.store.SessionUser(r.Context(), token); !errors.Is(err, auth.ErrInvalidSession) {
			break
		}
	}
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Email string `json:"email"`
	}{u.Email})
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
// so the lookups a request can cost.
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
