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

func (h *Handler) v1Register(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("email"), required("password"), optional("username"), optional("phone"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, err := h.store.Register(r.Context(), auth.Registration{
		Email: f.str("email"), Password: f.str("password"), Username: f.str("username"), Phone: f.str("phone"),
	})
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// v1Login logs in by email or username ("identifier").
func (h *Handler) v1Login(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("identifier"), required("password"), flag("token"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	res, err := h.store.LoginWithDevice(r.Context(), auth.LoginAttempt{
		Identifier: f.str("identifier"), Password: f.str("password"), DeviceToken: deviceToken(r),
	})
	var mfa *auth.SecondFactorRequiredError
	if errors.As(err, &mfa) {
		writeJSON(w, http.StatusAccepted, v1SecondFactorRequired{true, mfa.Challenge, mfa.ExpiresAt})
		return
	}
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	h.v1StartSession(w, res, f.flags["token"])
}

// v1SecondFactor completes a login with a TOTP code or a recovery code.
func (h *Handler) v1SecondFactor(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("mfa_token"), optional("code"), optional("recovery_code"), flag("token"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	res, err := h.store.CompleteLogin(r.Context(), auth.SecondFactor{
		Challenge: f.str("mfa_token"), Code: f.str("code"), RecoveryCode: f.str("recovery_code"), DeviceToken: deviceToken(r),
	})
	if err != nil {
		h.writeV1Error(w, r, refusedAs(errCodeRefused, err))
		return
	}
	h.v1StartSession(w, res, f.flags["token"])
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
func (h *Handler) v1Logout(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	end := func() error { return h.store.DestroySession(r.Context(), st.token) }
	if st.accessToken {
		// The session the access token belongs to, with its refresh tokens.
		end = func() error { return h.store.RevokeSession(r.Context(), st.user.ID, st.session.ID) }
	}
	if err := end(); err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	if !st.bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) v1Me(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	st := stateOf(r.Context())
	tf := st.twoFactor
	if !st.haveTwoFactor { // authenticated before the route asked
		var err error
		if tf, err = h.store.TwoFactor(r.Context(), u.ID); err != nil {
			h.writeV1Error(w, r, err)
			return
		}
	}
	writeMe(w, v1Me{u, tf})
}

// v1UpdateMe changes the user's username, email or phone; an email change
// needs current_password and ends the user's other sessions.
func (h *Handler) v1UpdateMe(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, optional("username"), optional("email"), optional("phone"), optional("current_password"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	updated, err := h.store.UpdateOwnUser(r.Context(), u.ID, f.str("current_password"), auth.UserUpdate{
		Username: f.strPtr("username"), Email: f.strPtr("email"), Phone: f.strPtr("phone"), KeepSessionID: sess.ID,
	})
	if err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, updated)
}

// v1ChangePassword changes the user's password, which ends every session
// of the user, and starts a new one for the caller in the same
// transaction: a browser gets its cookie, a client of session tokens its
// token in the body, and a client of access tokens a new pair of tokens,
// as POST /token gives (its old refresh token ended with its session).
func (h *Handler) v1ChangePassword(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("current_password"), required("new_password"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	st := stateOf(r.Context())
	current, next := f.str("current_password"), f.str("new_password")
	if st.accessToken {
		res, err := h.store.ChangePasswordTokens(r.Context(), st.user.ID, current, next)
		if errors.Is(err, auth.ErrNoSecretKey) {
			err = errTokensUnavailable
		}
		if err != nil {
			h.writeV1Error(w, r, refusedAs(errPasswordRefused, err))
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	u, sess, err := h.store.ChangePasswordSession(r.Context(), st.user.ID, current, next)
	if err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordRefused, err))
		return
	}
	reply := v1Session{User: u, Session: sess}
	if st.bearer {
		reply.Token = sess.Token
	} else {
		http.SetCookie(w, h.sessionCookie(sess.Token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
	}
	writeJSON(w, http.StatusOK, reply)
}

// v1DeleteMe deletes the user's account, given the password and, with a
// second factor, a TOTP code or a recovery code.
func (h *Handler) v1DeleteMe(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("password"), optional("code"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, _ := CurrentUser(r.Context())
	if err := h.store.DeleteAccount(r.Context(), u.ID, f.str("password"), f.str("code")); err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordOrCodeRefused, err))
		return
	}
	if !stateOf(r.Context()).bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) v1Sessions(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	current, _ := CurrentSession(r.Context())
	list, err := h.store.ListSessions(r.Context(), u.ID)
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	out := make([]v1SessionInfo, len(list))
	for i, s := range list {
		out[i] = v1SessionInfo{s, s.ID == current.ID}
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []v1SessionInfo `json:"sessions"`
	}{out})
}

// v1RevokeOtherSessions ends every session of the user but the caller's.
func (h *Handler) v1RevokeOtherSessions(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	n, err := h.store.RevokeOtherSessions(r.Context(), u.ID, sess.ID)
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionsEnded{n})
}

// sessionsEnded is the reply of a route that ends sessions.
type sessionsEnded struct {
	SessionsEnded int64 `json:"sessions_ended"`
}

// v1RevokeSession ends one of the user's sessions by its id; another
// user's session is not found.
func (h *Handler) v1RevokeSession(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.writeV1Error(w, r, auth.ErrSessionNotFound)
		return
	}
	if err := h.store.RevokeSession(r.Context(), u.ID, id); err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	if sess, _ := CurrentSession(r.Context()); sess.ID == id && !stateOf(r.Context()).bearer {
		http.SetCookie(w, h.sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) v1TwoFactor(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	tf, err := h.store.TwoFactor(r.Context(), u.ID)
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tf)
}

func (h *Handler) v1EnrollTOTP(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	e, err := h.store.EnrollTOTP(r.Context(), u.ID)
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, totpEnrollment{e.Secret, e.URI})
}

func (h *Handler) v1TOTPQR(w http.ResponseWriter, r *http.Request) {
	u, _ := CurrentUser(r.Context())
	img, err := h.store.TOTPEnrollmentQR(r.Context(), u.ID, qrSize)
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writePNG(w, img)
}

func (h *Handler) v1ConfirmTOTP(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("code"), required("password"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	codes, err := h.store.ConfirmTOTP(r.Context(), u.ID, auth.TOTPConfirmation{Code: f.str("code"), Password: f.str("password"), KeepSessionID: sess.ID})
	if err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
}

func (h *Handler) v1RemoveTOTP(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("password"), required("code"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	if err := h.store.RemoveTOTP(r.Context(), u.ID, f.str("password"), f.str("code"), sess.ID); err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordOrCodeRefused, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) v1RecoveryCodes(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("password"), required("code"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	codes, err := h.store.RegenerateRecoveryCodes(r.Context(), u.ID, f.str("password"), f.str("code"), sess.ID)
	if err != nil {
		h.writeV1Error(w, r, refusedAs(errPasswordOrCodeRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
}

// v1RequestReset answers every well-formed address alike, before the
// database is touched (see requestReset); Options.ExposeResetToken does
// not apply to the API v1.
func (h *Handler) v1RequestReset(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("email"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	if err := h.startReset(r, f.str("email")); err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, message{resetRequested})
}

func (h *Handler) v1ConfirmReset(w http.ResponseWriter, r *http.Request) {
	f, err := h.decodeV1(w, r, required("email"), required("token"), required("new_password"))
	if err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	if err := h.store.ResetPassword(r.Context(), f.str("email"), f.str("token"), f.str("new_password")); err != nil {
		h.writeV1Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
