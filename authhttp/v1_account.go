package authhttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/credstore/credstore/auth"
)

// v1Session is the reply of a completed login or a password change: the
// user, the new session, and its token when the client asked for one
// ("token": true) or authenticates by bearer token; a browser gets the
// session cookie instead.
type v1Session struct {
	User    auth.User    `json:"user"`
	Session auth.Session `json:"session"`
	Token   string       `json:"token,omitempty"`
}

// v1SecondFactorRequired is the 202 of a login whose password was right
// for a user with a TOTP factor: POST /sessions/second-factor completes it.
type v1SecondFactorRequired struct {
	SecondFactorRequired bool      `json:"second_factor_required"`
	MFAToken             string    `json:"mfa_token"`
	ExpiresAt            time.Time `json:"expires_at"`
}

// v1Me is the current user with their second factor's status.
type v1Me struct {
	auth.User
	TwoFactor auth.TwoFactorStatus `json:"two_factor"`
}

// v1SessionInfo is one of the user's sessions; Current marks the one that
// asks.
type v1SessionInfo struct {
	auth.Session
	Current bool `json:"current"`
}

func (h *Handler) v1Register(w http.ResponseWriter, r *http.Request, f form) error {
	u, err := h.registerUser(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// v1Login logs in by email or username ("identifier").
func (h *Handler) v1Login(w http.ResponseWriter, r *http.Request, f form) error {
	res, err := h.logIn(r, f.str("identifier"), f.str("password"))
	var mfa *auth.SecondFactorRequiredError
	if errors.As(err, &mfa) {
		writeJSON(w, http.StatusAccepted, v1SecondFactorRequired{true, mfa.Challenge, mfa.ExpiresAt})
		return nil
	}
	if err != nil {
		return err
	}
	h.v1StartSession(w, res, f.flags["token"])
	return nil
}

// v1SecondFactor completes a login with a TOTP code or a recovery code.
func (h *Handler) v1SecondFactor(w http.ResponseWriter, r *http.Request, f form) error {
	res, err := h.secondFactor(r, f)
	if err != nil {
		return err
	}
	h.v1StartSession(w, res, f.flags["token"])
	return nil
}

// v1StartSession answers a completed login: the token in the body when
// the client asked for it, the cookies otherwise.
func (h *Handler) v1StartSession(w http.ResponseWriter, res auth.LoginResult, token bool) {
	reply := v1Session{User: res.User, Session: res.Session}
	if token {
		reply.Token = res.Session.Token
	} else {
		h.startSession(w, res)
	}
	writeJSON(w, http.StatusOK, reply)
}

// v1Logout ends the request's session, and drops the cookie of a browser.
func (h *Handler) v1Logout(w http.ResponseWriter, r *http.Request, _ form) error {
	if err := h.endSession(r); err != nil {
		return err
	}
	if !stateOf(r.Context()).bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSession ends the session that authenticated the request: a session
// token's, or an access token's session with its refresh tokens.
func (h *Handler) endSession(r *http.Request) error {
	st := stateOf(r.Context())
	if st.accessToken {
		return h.store.RevokeSession(r.Context(), st.user.ID, st.session.ID)
	}
	return h.store.DestroySession(r.Context(), st.token)
}

func (h *Handler) v1Me(w http.ResponseWriter, r *http.Request, _ form) error {
	u, tf, err := h.userProfile(r)
	if err != nil {
		return err
	}
	writeMe(w, v1Me{u, tf})
	return nil
}

// userProfile is the request's user and their second factor's status, read
// with the session when the route asked for it (twoFactor) before the
// session was looked up, and on its own otherwise.
func (h *Handler) userProfile(r *http.Request) (auth.User, auth.TwoFactorStatus, error) {
	st := stateOf(r.Context())
	if st.haveTwoFactor {
		return st.user, st.twoFactor, nil
	}
	// Authenticated before the route asked (the application's
	// Authenticate).
	tf, err := h.store.TwoFactor(r.Context(), st.user.ID)
	return st.user, tf, err
}

// v1UpdateMe changes the user's username, email or phone; an email change
// needs current_password and ends the user's other sessions.
func (h *Handler) v1UpdateMe(w http.ResponseWriter, r *http.Request, f form) error {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	updated, err := h.store.UpdateOwnUser(r.Context(), u.ID, f.str("current_password"), auth.UserUpdate{
		Username: f.strPtr("username"), Email: f.strPtr("email"), Phone: f.strPtr("phone"), KeepSessionID: sess.ID,
	})
	if err != nil {
		return refusedAs(errPasswordRefused, err)
	}
	writeJSON(w, http.StatusOK, updated)
	return nil
}

// v1ChangePassword changes the user's password, which ends every session
// of the user, and starts a new one for the caller in the same
// transaction: a browser gets its cookie, a client of session tokens its
// token in the body, and a client of access tokens a new pair of tokens,
// as POST /token gives (its old refresh token ended with its session).
func (h *Handler) v1ChangePassword(w http.ResponseWriter, r *http.Request, f form) error {
	st := stateOf(r.Context())
	current, next := f.str("current_password"), f.str("new_password")
	if st.accessToken {
		res, err := h.store.ChangePasswordTokens(r.Context(), st.user.ID, current, next)
		if errors.Is(err, auth.ErrNoSecretKey) {
			err = errTokensUnavailable
		}
		if err != nil {
			return refusedAs(errPasswordRefused, err)
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	u, sess, err := h.store.ChangePasswordSession(r.Context(), st.user.ID, current, next)
	if err != nil {
		return refusedAs(errPasswordRefused, err)
	}
	reply := v1Session{User: u, Session: sess}
	if st.bearer {
		reply.Token = sess.Token
	} else {
		http.SetCookie(w, h.sessionCookie(sess.Token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// v1DeleteMe deletes the user's account, given the password and, with a
// second factor, a TOTP code or a recovery code.
func (h *Handler) v1DeleteMe(w http.ResponseWriter, r *http.Request, f form) error {
	u, _ := CurrentUser(r.Context())
	if err := h.store.DeleteAccount(r.Context(), u.ID, f.str("password"), f.str("code")); err != nil {
		return refusedAs(errPasswordOrCodeRefused, err)
	}
	if !stateOf(r.Context()).bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) v1Sessions(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	current, _ := CurrentSession(r.Context())
	list, err := h.store.ListSessions(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]v1SessionInfo, len(list))
	for i, s := range list {
		out[i] = v1SessionInfo{s, s.ID == current.ID}
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []v1SessionInfo `json:"sessions"`
	}{out})
	return nil
}

// v1RevokeOtherSessions ends every session of the user but the caller's.
func (h *Handler) v1RevokeOtherSessions(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	n, err := h.store.RevokeOtherSessions(r.Context(), u.ID, sess.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionsEnded{n})
	return nil
}

// sessionsEnded is the reply of a route that ends sessions.
type sessionsEnded struct {
	SessionsEnded int64 `json:"sessions_ended"`
}

// v1RevokeSession ends one of the user's sessions by its id; another
// user's session is not found.
func (h *Handler) v1RevokeSession(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return auth.ErrSessionNotFound
	}
	if err := h.store.RevokeSession(r.Context(), u.ID, id); err != nil {
		return err
	}
	if sess, _ := CurrentSession(r.Context()); sess.ID == id && !stateOf(r.Context()).bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) v1TwoFactor(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	tf, err := h.store.TwoFactor(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tf)
	return nil
}

// v1RemoveTOTP removes the user's factor and recovery codes (removeFactor).
func (h *Handler) v1RemoveTOTP(w http.ResponseWriter, r *http.Request, f form) error {
	if err := h.removeFactor(r, f); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// v1RequestReset answers every well-formed address alike, before the
// database is touched (see requestReset); Options.ExposeResetToken does
// not apply to the API v1.
func (h *Handler) v1RequestReset(w http.ResponseWriter, r *http.Request, f form) error {
	if err := h.startReset(r, f.str("email")); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, message{resetRequested})
	return nil
}

func (h *Handler) v1ConfirmReset(w http.ResponseWriter, r *http.Request, f form) error {
	if err := h.store.ResetPassword(r.Context(), f.str("email"), f.str("token"), f.str("new_password")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
