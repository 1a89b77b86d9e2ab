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

// deliveryTimeout bounds the issue and delivery of one reset token, which
// run after its request's reply and so outside the request's deadline.
// auth.SMTPSender has a 30-second timeout of its own.
const deliveryTimeout = time.Minute

// resetRequested is the reply to every POST /reset_password outside
// Options.ExposeResetToken that is not refused.
const resetRequested = "if an account has this address, a reset token has been sent to it"

// requestReset issues a reset token for the form's email.
//
// Outside Options.ExposeResetToken the reply must not tell whether the
// address has an account, by its status, headers, body or time. So the
// reply comes before anything looks at the database: once the address is
// known to be well formed (auth.CheckEmail: a malformed one is a 400 for
// any address) and a slot for the background work is taken (when all are,
// every address gets the same 503), every request gets the same 200, and
// the token is issued and delivered after it (issue). Nothing of that work
// reaches the client: not the time of the token's write, not a slow or
// failing mail server, not auth's reset throttle, which still refuses
// (and audits) a request over its limit and sends nothing for it, and
// whose refusals are logged.
//
// With Options.ExposeResetToken the contract of the service's existing
// clients holds: the token is in the reply, delivered too before it, and
// an unknown address is 403.
func (h *Handler) requestReset(w http.ResponseWriter, r *http.Request, f form) error {
	if h.opts.ExposeResetToken {
		return h.requestExposedReset(w, r, f.str("email"))
	}
	if err := h.startReset(r, f.str("email")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, emailMessage{f.str("email"), resetRequested})
	return nil
}

// startReset checks that email is well formed (a *auth.ValidationError
// otherwise) and takes a slot for its token's issue and delivery
// (auth.ErrOverloaded when none is free), then starts them, after the
// reply: nothing it returns depends on the address's account.
func (h *Handler) startReset(r *http.Request, email string) error {
	if err := auth.CheckEmail(email); err != nil {
		return err
	}
	select {
	case h.resetSlots <- struct{}{}:
	default:
		h.log.WarnContext(r.Context(), "reset request refused: too many being issued",
			"method", r.Method, "path", r.URL.Path, "pending", maxPendingResets)
		return auth.ErrOverloaded
	}
	h.deliveries.Add(1)
	// Detached from the request, which ends with the reply, but keeping
	// its values (the client, which auth records in the audit trail).
	go h.issue(context.WithoutCancel(r.Context()), email)
	return nil
}

// issue issues and delivers the reset token for email, if it has an
// account, then frees its slot. Its outcome goes to the log only: the
// user id when there is one, never the address (it may have no account)
// nor the token.
func (h *Handler) issue(ctx context.Context, email string) {
	defer h.deliveries.Done()
	defer func() { <-h.resetSlots }()
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	reset, err := h.store.IssuePasswordReset(ctx, email)
	var throttled *auth.ThrottledError
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return
	case errors.As(err, &throttled):
		h.log.InfoContext(ctx, "reset request throttled", "retry_after", throttled.RetryAfter.String())
		return
	case err != nil:
		h.log.ErrorContext(ctx, "reset token not issued", "err", err.Error())
		return
	}
	if err := h.store.DeliverPasswordReset(ctx, reset); err != nil {
		// The sender's errors name no token (auth.SMTPSender gives only
		// the server's reply code).
		h.log.ErrorContext(ctx, "reset message not delivered", "user_id", reset.UserID, "err", err.Error())
	}
}

// requestExposedReset is requestReset under Options.ExposeResetToken.
func (h *Handler) requestExposedReset(w http.ResponseWriter, r *http.Request, email string) error {
	reset, err := h.store.RequestPasswordReset(r.Context(), email)
	if errors.Is(err, auth.ErrNotFound) {
		// The API's clients expect 403 here.
		writeJSON(w, http.StatusForbidden, ErrorBody{Message: "unknown email"})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Email      string `json:"email"`
		ResetToken string `json:"reset_token"`
	}{email, reset.Token})
	return nil
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
