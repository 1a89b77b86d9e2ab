package auth

import (
	"context"
	"database/sql"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/credstore/credstore/db"
)

// MaxDisabledReasonLen bounds DisableUser's reason, in bytes.
const MaxDisabledReasonLen = 500

// DisableUser disables the account with the given id, as an administrator
// does (name them with WithActor, as for the other administrative calls).
// In one transaction it sets User.DisabledAt, ends every session of the
// user (with them every refresh-token family and the access tokens checked
// against them), deletes their pending login challenges and reset tokens,
// and records EventUserDisabled with reason, which is kept in the audit
// trail only. Everything else the account holds stays.
//
// While disabled, a login with the right password (and second factor) is
// refused with ErrAccountDisabled, and with the wrong one with
// ErrInvalidCredentials as for any account; refreshes are refused
// (ErrInvalidRefreshToken), a reset request sends nothing and a reset token
// is refused (ErrInvalidResetToken). EnableUser undoes it. Disabling an
// account that is disabled already changes and records nothing.
//
// Errors: *ValidationError ("reason": over MaxDisabledReasonLen bytes, not
// UTF-8 or with control characters other than newlines), ErrNotFound.
func (s *Store) DisableUser(ctx context.Context, id int64, reason string) error {
	probs := problems{}
	checkDisabledReason(probs, "reason", reason)
	if err := probs.err(); err != nil {
		return wrap("disable user", err)
	}
	return s.inTx(ctx, "disable user", func(tx *txn) error {
		u, err := tx.lockUser(id)
		if err != nil {
			return err
		}
		_, err = tx.setDisabled(u, true, reason)
		return err
	})
}

// EnableUser re-enables an account that DisableUser disabled, and records
// EventUserEnabled; its owner can log in again with their password.
// Enabling an account that is not disabled changes and records nothing.
//
// Errors: ErrNotFound.
func (s *Store) EnableUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, "enable user", func(tx *txn) error {
		u, err := tx.lockUser(id)
		if err != nil {
			return err
		}
		_, err = tx.setDisabled(u, false, "")
		return err
	})
}

// setDisabled disables (or enables) u, whose row the caller has locked, as
// DisableUser (EnableUser) describes, and returns the row as it left it.
// A user already in that state is left as it is, and nothing is recorded.
func (tx *txn) setDisabled(u db.User, disabled bool, reason string) (db.User, error) {
	if u.DisabledAt.Valid == disabled {
		return u, nil
	}
	at := sql.NullTime{Time: tx.now, Valid: disabled}
	u, err := tx.q.SetUserDisabled(tx.ctx, db.SetUserDisabledParams{DisabledAt: at, Now: tx.now, ID: u.ID})
	if err != nil {
		return u, err
	}
	if !disabled {
		tx.recordBy(EventUserEnabled, refOf(u), Actor{Kind: ActorSystem}, nil)
		return u, nil
	}
	// Sessions first: their refresh tokens go with them (ON DELETE
	// CASCADE), and the session caches learn of it by the triggers. The
	// pending login challenges go with them (endOtherSessions).
	ended, err := tx.endOtherSessions(u.ID, 0)
	if err != nil {
		return u, err
	}
	if _, err := tx.q.DeleteUserPasswordResets(tx.ctx, u.ID); err != nil {
		return u, err
	}
	tx.recordBy(EventUserDisabled, refOf(u), Actor{Kind: ActorSystem}, map[string]any{"reason": reason, "sessions_ended": ended})
	return u, nil
}

// checkDisabledReason checks the reason of a disable, reported under
// field.
func checkDisabledReason(probs problems, field, reason string) {
	switch {
	case len(reason) > MaxDisabledReasonLen:
		probs.add(field, fmt.Sprintf("must be at most %d bytes long", MaxDisabledReasonLen))
	case !utf8.ValidString(reason) || hasControl(reason):
		probs.add(field, "must be text without control characters")
	}
}

// hasControl reports a control character other than a newline or a tab.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return true
		}
	}
	return false
}

// refuseDisabled is the refusal of a login whose credentials were right
// for a disabled account: the failure is recorded (reason "disabled") and
// the caller, who proved the password, learns ErrAccountDisabled.
func (s *Store) refuseDisabled(ctx context.Context, t throttle) error {
	if err := s.recordFailure(ctx, t, EventLoginFailed, "disabled", Actor{Kind: ActorAnonymous}); err != nil {
		return wrap("login", err)
	}
	return ErrAccountDisabled
}
