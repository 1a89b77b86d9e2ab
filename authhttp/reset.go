package authhttp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/credstore/credstore/auth"
)

// maxPendingResets bounds the reset messages being delivered after their
// reply at once: past it, POST /reset_password is answered 503 until one
// is done. A hundred is ten seconds of a slow SMTP server at ten requests
// a second; auth's reset throttle keeps any one address from filling it.
const maxPendingResets = 100

// deliveryTimeout bounds the delivery of one reset message, which runs
// after its request's reply and so outside the request's deadline.
// auth.SMTPSender has a 30-second timeout of its own.
const deliveryTimeout = time.Minute

// resetRequested is the reply to every POST /reset_password outside
// Options.ExposeResetToken that is not refused.
const resetRequested = "if an account has this address, a reset token has been sent to it"

// requestReset issues a reset token for the form's email.
//
// Outside Options.ExposeResetToken the reply must not tell whether the
// address has an account, by its status, headers, body or time. So:
//   - an address without an account gets the reply of one with: auth's
//     ErrNotFound is not an error here;
//   - the message is delivered after the reply, in the background
//     (deliver), so that a slow or failing mail server makes no known
//     address's reply slower or different; its failure is logged;
//   - the slot that background delivery needs is taken before auth is
//     asked, for every request, and given back at once when there is
//     nothing to deliver: when all are taken, every address gets the same
//     503;
//   - what remains are auth's own replies, which are the same for both:
//     a malformed address is a 400 whether or not it has an account, and
//     auth throttles the requests for an address without an account
//     exactly as an account's (in a bucket of the address's canonical
//     form, counted in the same transaction), so a throttled request is
//     the same 429 with the same Retry-After for both.
//
// With Options.ExposeResetToken the contract of the service's existing
// clients holds: the token is in the reply, delivered too before it, and
// an unknown address is 403.
func (h *Handler) requestReset(w http.ResponseWriter, r *http.Request) {
	f, err := h.decode(w, r, "email")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.opts.ExposeResetToken {
		h.requestExposedReset(w, r, f["email"])
		return
	}
	select {
	case h.resetSlots <- struct{}{}:
	default:
		h.log.WarnContext(r.Context(), "reset request refused: too many messages being delivered",
			"method", r.Method, "path", r.URL.Path, "pending", maxPendingResets)
		h.writeError(w, r, auth.ErrOverloaded)
		return
	}
	reset, err := h.store.IssuePasswordReset(r.Context(), f["email"])
	switch {
	case errors.Is(err, auth.ErrNotFound):
		<-h.resetSlots
	case err != nil:
		<-h.resetSlots
		h.writeError(w, r, err)
		return
	default:
		h.deliveries.Add(1)
		// Detached from the request, which ends with the reply, but
		// keeping its values (the client, for anything auth records).
		go h.deliver(context.WithoutCancel(r.Context()), reset)
	}
	writeJSON(w, http.StatusOK, emailMessage{f["email"], resetRequested})
}

// deliver sends reset's message, then frees its slot.
func (h *Handler) deliver(ctx context.Context, reset auth.PasswordReset) {
	defer h.deliveries.Done()
	defer func() { <-h.resetSlots }()
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	if err := h.store.DeliverPasswordReset(ctx, reset); err != nil {
		// The sender's errors name no token (auth.SMTPSender gives only
		// the server's reply code).
		h.log.ErrorContext(ctx, "reset message not delivered", "user_id", reset.UserID, "err", err.Error())
	}
}

// requestExposedReset is requestReset under Options.ExposeResetToken.
func (h *Handler) requestExposedReset(w http.ResponseWriter, r *http.Request, email string) {
	reset, err := h.store.RequestPasswordReset(r.Context(), email)
	if errors.Is(err, auth.ErrNotFound) {
		// The API's clients expect 403 here.
		writeJSON(w, http.StatusForbidden, ErrorBody{Message: "unknown email"})
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Email      string `json:"email"`
		ResetToken string `json:"reset_token"`
	}{email, reset.Token})
}

// Shutdown waits until the reset messages still being delivered after
// their replies are sent, or until ctx ends (its error, then). Call it
// after http.Server.Shutdown and before closing the store.
func (h *Handler) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.deliveries.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
