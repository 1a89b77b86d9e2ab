package authhttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/credstore/credstore/auth"
)

// The Holberton routes' own actions. Each is an adapter over the action the
// API v1 takes too (registerUser, logIn, secondFactor, endSession,
// userProfile, removeFactor, startReset), with the replies the Holberton
// contract has always given; where the two replies agree, both surfaces
// share the handler (enrollTOTP, totpQR, confirmTOTP,
// regenerateRecoveryCodes).

// message is the body of most replies.
type message struct {
	Message string `json:"message"`
}

type emailMessage struct {
	Email   string `json:"email"`
	Message string `json:"message"`
}

func (h *Handler) home(w http.ResponseWriter, _ *http.Request, _ form) error {
	writeJSON(w, http.StatusOK, message{"Bienvenue"})
	return nil
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request, f form) error {
	u, err := h.registerUser(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, emailMessage{u.Email, "user created"})
	return nil
}

// registerUser registers the user of f's email, password, username and
// phone.
func (h *Handler) registerUser(r *http.Request, f form) (auth.User, error) {
	return h.store.Register(r.Context(), auth.Registration{
		Email: f.str("email"), Password: f.str("password"), Username: f.str("username"), Phone: f.str("phone"),
	})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request, f form) error {
	// auth.Login also takes usernames; this API logs in by email only.
	// Refusing a value without '@' up front reveals nothing: its shape is
	// the caller's own input.
	if !strings.Contains(f.str("email"), "@") {
		return auth.ErrInvalidCredentials
	}
	res, err := h.logIn(r, f.str("email"), f.str("password"))
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
		return nil
	}
	if err != nil {
		return err
	}
	h.startSession(w, res)
	writeJSON(w, http.StatusOK, emailMessage{res.User.Email, "logged in"})
	return nil
}

// logIn checks identifier's password, with the browser's device cookie.
// A user with a second factor gets a *auth.SecondFactorRequiredError.
func (h *Handler) logIn(r *http.Request, identifier, password string) (auth.LoginResult, error) {
	return h.store.LoginWithDevice(r.Context(), auth.LoginAttempt{
		Identifier: identifier, Password: password, DeviceToken: deviceToken(r),
	})
}

// startSession sets the cookies of a completed login: the session's, and
// the device's when auth issued or renewed one.
func (h *Handler) startSession(w http.ResponseWriter, res auth.LoginResult) {
	sess := res.Session
	http.SetCookie(w, h.sessionCookie(sess.Token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
	// Measured from the session's creation, which is the login's moment
	// on the store's clock, as the device's expiry is.
	if maxAge := int(res.DeviceExpiresAt.Sub(sess.CreatedAt).Seconds()); res.DeviceToken != "" && maxAge > 0 {
		http.SetCookie(w, h.deviceCookie(res.DeviceToken, maxAge))
	}
}

// logout ends the request's session (its cookie's or its bearer token's)
// and clears the session cookie, but leaves the device cookie: it is what
// keeps the owner's own logins apart from an attacker's failures on the
// account, and the owner needs it most on their next login.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, _ form) error {
	if err := h.endSession(r); err != nil {
		return err
	}
	http.SetCookie(w, h.sessionCookie("", -1)) // tells the browser to drop it
	// A redirect, as the API's clients expect, with a JSON body like every
	// other reply (http.Redirect would send none to a DELETE, and HTML to
	// a GET).
	w.Header().Set("Location", "/")
	writeJSON(w, http.StatusFound, message{"logged out"})
	return nil
}

// profile shows the session's user and their second factor, read with the
// session in one query (the route's twoFactor): it is the service's
// hottest route.
func (h *Handler) profile(w http.ResponseWriter, r *http.Request, _ form) error {
	u, st, err := h.userProfile(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Email             string `json:"email"`
		TOTPEnabled       bool   `json:"totp_enabled"`
		RecoveryCodesLeft int    `json:"recovery_codes_left"`
	}{u.Email, st.TOTPEnabled, st.RecoveryCodesLeft})
	return nil
}

func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request, f form) error {
	if err := h.store.ResetPassword(r.Context(), f.str("email"), f.str("reset_token"), f.str("new_password")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, emailMessage{f.str("email"), "Password updated"})
	return nil
}

func (h *Handler) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     h.opts.Cookie.Name,
		Value:    value,
		Path:     h.opts.Cookie.Path,
		Domain:   h.opts.Cookie.Domain,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.opts.Cookie.Secure,
		SameSite: h.opts.Cookie.SameSite,
	}
}

// deviceToken is the device cookie the browser sent: the first non-empty
// one of at most maxSessionCookies, "" for none. A planted device_id sent
// before the browser's own (see credentials) costs the owner only the
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
// the session's: HttpOnly, and Secure, Domain and Path as Options.Cookie.
// SameSite=Strict rather than the session's Lax: only POST /sessions and
// POST /sessions/mfa read it, which are same-origin unless
// Options.TrustedOrigins says otherwise (http.CrossOriginProtection), and a
// cross-site trusted origin's POST would not carry a Lax cookie either (Lax
// adds only top-level GET navigations), while a same-site one carries
// Strict cookies too. Strict thus loses no login, and keeps the cookie off
// every request another site starts.
func (h *Handler) deviceCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     DeviceCookieName,
		Value:    token,
		Path:     h.opts.Cookie.Path,
		Domain:   h.opts.Cookie.Domain,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.opts.Cookie.Secure,
		SameSite: http.SameSiteStrictMode,
	}
}
