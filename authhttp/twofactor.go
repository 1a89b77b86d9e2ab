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
func (h *Handler) completeLogin(w http.ResponseWriter, r *http.Request, f form) error {
	res, err := h.secondFactor(r, f)
	if err != nil {
		return err
	}
	h.startSession(w, res)
	writeJSON(w, http.StatusOK, emailMessage{res.User.Email, "logged in"})
	return nil
}

// secondFactor completes the login of f's mfa_token with its code or
// recovery_code; a wrong one is errCodeRefused.
func (h *Handler) secondFactor(r *http.Request, f form) (auth.LoginResult, error) {
	res, err := h.store.CompleteLogin(r.Context(), auth.SecondFactor{
		Challenge: f.str("mfa_token"), Code: f.str("code"), RecoveryCode: f.str("recovery_code"), DeviceToken: deviceToken(r),
	})
	return res, refusedAs(errCodeRefused, err)
}

// enrollTOTP starts a TOTP enrollment for the session's user and returns
// its secret, as text and as the otpauth:// URI that GET
// /profile/totp/qr.png draws. A new enrollment replaces a pending one.
// Both surfaces serve it.
func (h *Handler) enrollTOTP(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	e, err := h.store.EnrollTOTP(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpEnrollment{e.Secret, e.URI})
	return nil
}

// totpEnrollment is the reply that starts an enrollment.
type totpEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

// totpQR draws the pending enrollment's otpauth:// URI as a PNG QR code.
// The image holds the secret: like the JSON replies that carry one, it is
// never stored by a cache. Both surfaces serve it.
func (h *Handler) totpQR(w http.ResponseWriter, r *http.Request, _ form) error {
	u, _ := CurrentUser(r.Context())
	img, err := h.store.TOTPEnrollmentQR(r.Context(), u.ID, qrSize)
	if err != nil {
		return err
	}
	writePNG(w, img)
	return nil
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
// The user's other sessions end; this one stays. Both surfaces serve it.
func (h *Handler) confirmTOTP(w http.ResponseWriter, r *http.Request, f form) error {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	codes, err := h.store.ConfirmTOTP(r.Context(), u.ID, auth.TOTPConfirmation{Code: f.str("code"), Password: f.str("password"), KeepSessionID: sess.ID})
	if err != nil {
		return refusedAs(errPasswordRefused, err)
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
	return nil
}

// removeTOTP removes the user's factor and recovery codes (removeFactor).
func (h *Handler) removeTOTP(w http.ResponseWriter, r *http.Request, f form) error {
	if err := h.removeFactor(r, f); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"two-factor authentication removed"})
	return nil
}

// removeFactor removes the user's factor and recovery codes, given f's
// password and a current code. The user's other sessions end; this one
// stays.
func (h *Handler) removeFactor(r *http.Request, f form) error {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	return refusedAs(errPasswordOrCodeRefused, h.store.RemoveTOTP(r.Context(), u.ID, f.str("password"), f.str("code"), sess.ID))
}

// regenerateRecoveryCodes voids the user's recovery codes and returns a new
// set, given their password and a current code. The user's other sessions
// end; this one stays. Both surfaces serve it.
func (h *Handler) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request, f form) error {
	u, _ := CurrentUser(r.Context())
	sess, _ := CurrentSession(r.Context())
	codes, err := h.store.RegenerateRecoveryCodes(r.Context(), u.ID, f.str("password"), f.str("code"), sess.ID)
	if err != nil {
		return refusedAs(errPasswordOrCodeRefused, err)
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
	return nil
}
