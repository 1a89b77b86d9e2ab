package authhttp

import (
	"net/http"
	"strconv"

	"github.com/credstore/credstore/auth"
)

// qrSize is the side of the enrollment's QR code, in pixels: about five
// per module for the URI of a long email address, which phones scan from a
// screen at arm's length.
const qrSize = 256

// recoveryCodes is the reply that hands out a new set of recovery codes.
// Like every JSON reply it is sent with Cache-Control: no-store.
type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// completeLogin answers the challenge of a login that returned 202 with a
// TOTP code or a recovery code, and starts the session as login does.
// Every failure is one 401 (auth says which only in its audit trail).
func (h *Handler) completeLogin(w http.ResponseWriter, r *http.Request) {
	f, err := h.decode(w, r, "mfa_token", "code", "recovery_code")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := h.store.CompleteLogin(r.Context(), auth.SecondFactor{
		Challenge: f["mfa_token"], Code: f["code"], RecoveryCode: f["recovery_code"], DeviceToken: deviceToken(r),
	})
	if err != nil {
		h.writeError(w, r, refusedAs(errCodeRefused, err))
		return
	}
	h.startSession(w, res)
	writeJSON(w, http.StatusOK, emailMessage{res.User.Email, "logged in"})
}

// enrollTOTP starts a TOTP enrollment for the session's user and returns
// its secret, as text and as the otpauth:// URI that GET
// /profile/totp/qr.png draws. A new enrollment replaces a pending one.
func (h *Handler) enrollTOTP(w http.ResponseWriter, r *http.Request) {
	r, u, _, err := h.session(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	e, err := h.store.EnrollTOTP(r.Context(), u.ID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, totpEnrollment{e.Secret, e.URI})
}

// totpEnrollment is the reply that starts an enrollment.
type totpEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

// totpQR draws the pending enrollment's otpauth:// URI as a PNG QR code.
// The image holds the secret: like the JSON replies that carry one, it is
// never stored by a cache.
func (h *Handler) totpQR(w http.ResponseWriter, r *http.Request) {
	r, u, _, err := h.session(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	img, err := h.store.TOTPEnrollmentQR(r.Context(), u.ID, qrSize)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writePNG(w, img)
}

// writePNG sends img, which holds a secret: never stored by a cache.
func writePNG(w http.ResponseWriter, img []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "image/png")
	hdr.Set("Content-Length", strconv.Itoa(len(img)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

// confirmTOTP makes the pending enrollment the user's factor, given a
// current code of its secret and the user's password (a session alone must
// not put a factor on the account), and returns the first recovery codes.
// The user's other sessions end; this one stays.
func (h *Handler) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	r, u, sess, err := h.session(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := h.decode(w, r, "code", "password")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	codes, err := h.store.ConfirmTOTP(r.Context(), u.ID, auth.TOTPConfirmation{Code: f["code"], Password: f["password"], KeepSessionID: sess.ID})
	if err != nil {
		h.writeError(w, r, refusedAs(errPasswordRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
}

// removeTOTP removes the user's factor and recovery codes, given their
// password and a current code. The user's other sessions end; this one
// stays.
func (h *Handler) removeTOTP(w http.ResponseWriter, r *http.Request) {
	r, u, sess, err := h.session(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := h.decode(w, r, "password", "code")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.store.RemoveTOTP(r.Context(), u.ID, f["password"], f["code"], sess.ID); err != nil {
		h.writeError(w, r, refusedAs(errPasswordOrCodeRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, message{"two-factor authentication removed"})
}

// regenerateRecoveryCodes voids the user's recovery codes and returns a new
// set, given their password and a current code. The user's other sessions
// end; this one stays.
func (h *Handler) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	r, u, sess, err := h.session(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := h.decode(w, r, "password", "code")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	codes, err := h.store.RegenerateRecoveryCodes(r.Context(), u.ID, f["password"], f["code"], sess.ID)
	if err != nil {
		h.writeError(w, r, refusedAs(errPasswordOrCodeRefused, err))
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
}
