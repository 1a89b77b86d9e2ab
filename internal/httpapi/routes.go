package httpapi

import (
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
	err := a.store.DestroySession(r.Context(), sessionToken(r))
	if err != nil {
		a.replyError(w, r, err)
		return
	}
	http.SetCookie(w, a.sessionCookie("", -1)) // tells the browser to drop it
	http.Redirect(w, r, "/", http.StatusFound)
}

func (a *api) profile(w http.ResponseWriter, r *http.Request) {
	u, _, err := a.store.SessionUser(r.Context(), sessionToken(r))
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

// sessionToken is the session cookie's value, or "" without one (which
// auth refuses like any other invalid token).
func sessionToken(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	return c.Value
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
