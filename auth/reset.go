package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/credstore/credstore/db"
)

// PasswordReset is an issued password-reset token.
type PasswordReset struct {
	UserID int64
	Email  string // the address on the account, as stored
	// Token is the secret the user must present to ResetPassword. Only its
	// hash is stored. Deliver it to the user and never log it.
	Token     string
	ExpiresAt time.Time
}

// RequestPasswordReset issues a reset token for the account with this email
// (matched by its canonical form), replacing any token issued before, and
// delivers it through Config.ResetSender when one is set, to the address as
// the account stores it. The token is also returned, for callers that
// deliver it themselves. It is bound to the account's address: it stops
// working if the address changes.
//
// Errors: *ValidationError when email is empty or not an address; ErrNotFound
// when no account has this email, or its account is disabled (DisableUser:
// nothing is issued or sent); a delivery failure, wrapped (the token is
// stored and works all the same, and a new request replaces it).
func (s *Store) RequestPasswordReset(ctx context.Context, email string) (PasswordReset, error) {
	r, err := s.IssuePasswordReset(ctx, email)
	if err != nil {
		return r, err
	}
	if err := s.DeliverPasswordReset(ctx, r); err != nil {
		return r, fmt.Errorf("request password reset: %w", err)
	}
	return r, nil
}

// IssuePasswordReset is RequestPasswordReset without the delivery: it
// issues the token and returns it, and sends nothing. A caller that must
// answer a known address exactly as fast as an unknown one delivers it
// afterwards, apart from its reply (DeliverPasswordReset).
//
// Errors: those of RequestPasswordReset but a delivery failure.
func (s *Store) IssuePasswordReset(ctx context.Context, email string) (PasswordReset, error) {
	probs := problems{}
	canonical := checkEmail(probs, email)
	if err := probs.err(); err != nil {
		return PasswordReset{}, wrap("request password reset", err)
	}
	t := throttle{
		bucket:    identifierBucket(scopeReset, email),
		policy:    s.cfg.ResetThrottle,
		refused:   EventResetThrottled,
		operation: "request password reset",
	}
	u, err := read(ctx, s.q.GetUserByEmail, canonical)
	// A disabled account is answered, throttled and recorded as an address
	// without one: nothing is sent, and the reply says nothing.
	found := err == nil && !u.DisabledAt.Valid
	if err != nil && !errors.Is(err, ErrNotFound) {
		return PasswordReset{}, wrap("request password reset", err)
	}
	if found {
		t.subject = refOf(u)
		t.bucket = accountBucket(scopeReset, u.ID)
	}
	if err := s.check(ctx, t); err != nil {
		return PasswordReset{}, err
	}
	token, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return PasswordReset{}, wrap("request password reset", err)
	}
	var r PasswordReset
	// Every request counts in the throttle, the ones for addresses without
	// an account too (which are recorded without a user), so that the
	// replies and their pace are the same for both.
	err = s.inTx(ctx, "request password reset", func(tx *txn) error {
		if err := tx.count(t.bucket, t.policy); err != nil {
			return err
		}
		if !found {
			// Anyone can send these, as fast as they like: at most one a
			// minute is recorded, with the count of those that were not.
			if record, skipped := s.unknownResets.admit(tx.now); record {
				detail := map[string]any{"unknown_account": true}
				if skipped > 0 {
					detail["not_recorded_before"] = skipped
				}
				tx.recordBy(EventResetRequested, nil, Actor{Kind: ActorAnonymous}, detail)
			}
			return nil
		}
		// The user's row first (LockUser): a disable that committed since
		// the lookup is seen, and one after it deletes this token.
		if cur, err := tx.lockUser(u.ID); err != nil {
			return err // ErrNotFound: deleted since the lookup
		} else if cur.DisabledAt.Valid {
			return errDisabledMeanwhile
		}
		r = PasswordReset{UserID: u.ID, Email: u.Email, Token: token, ExpiresAt: tx.now.Add(s.cfg.ResetTokenLifetime)}
		err := tx.q.UpsertPasswordReset(tx.ctx, db.UpsertPasswordResetParams{
			UserID: u.ID, TokenHash: hash, EmailCanonical: u.EmailCanonical, Now: tx.now, ExpiresAt: r.ExpiresAt,
		})
		if err != nil {
			return err // ErrNotFound: deleted since the lookup
		}
		tx.recordBy(EventResetRequested, t.subject, Actor{Kind: ActorAnonymous}, nil)
		return nil
	})
	var w errWaiting
	switch {
	case errors.As(err, &w):
		return PasswordReset{}, s.refuse(ctx, t, w.row, s.now())
	case errors.Is(err, errDisabledMeanwhile):
		return PasswordReset{}, wrap("request password reset", ErrNotFound)
	case err != nil:
		return PasswordReset{}, err
	case !found:
		return PasswordReset{}, wrap("request password reset", ErrNotFound)
	}
	return r, nil
}

// DeliverPasswordReset sends r's token to r.Email through
// Config.ResetSender; without a sender it does nothing.
//
// Errors: the sender's, wrapped.
func (s *Store) DeliverPasswordReset(ctx context.Context, r PasswordReset) error {
	if s.cfg.ResetSender == nil {
		return nil
	}
	if err := s.cfg.ResetSender.Send(ctx, resetMessage(r, s.cfg.ResetTokenLifetime)); err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	return nil
}

// resetMessage is the message that carries a reset token to its user.
func resetMessage(r PasswordReset, lifetime time.Duration) Message {
	return Message{
		To:      r.Email,
		Subject: "Your password reset token",
		Body: fmt.Sprintf("Someone, probably you, asked to reset the password of the account %s.\n\n"+
			"Your reset token, valid once for %v (until %s):\n\n    %s\n\n"+
			"If you did not ask for it, ignore this message: your password stays as it is.\n",
			r.Email, lifetime, r.ExpiresAt.Format(time.RFC1123), r.Token),
	}
}

// errDisabledMeanwhile carries out of a reset request's transaction an
// account disabled since it was looked up.
var errDisabledMeanwhile = errors.New("account disabled meanwhile")

// RecentFactorWindow is how recently a second factor must have been
// confirmed for a password reset to flag it in its audit event
// ("recent_factor"): see ResetPassword.
const RecentFactorWindow = 24 * time.Hour

// ResetPassword sets a new password for the account with this email if
// token is that account's live reset token, spends the token, and ends every
// session of the user. It keeps the user's second factor: the mailbox alone
// must not get around it. Every factor was confirmed with the account's
// password (ConfirmTOTP), so a factor the owner does not know was put there
// by someone who had their password; the reset's audit event says
// "second_factor": true, and "recent_factor": true when the factor was
// confirmed within RecentFactorWindow, for an operator to check with the
// owner and, if so, remove (credstore users remove-2fa). The cheap checks come first: the new password against
// the policy, then the token (a read), and only then bcrypt; a refused
// password or token costs no hashing and leaves the token as it was.
// Spending is one conditional delete in the transaction that sets the
// password, which checks the token again: of two concurrent uses exactly one
// succeeds, and a token mailed to an address the account no longer has does
// not work.
//
// Errors: *ValidationError ("new_password") when the new password breaks the
// policy; ErrInvalidResetToken, unwrapped, when the token is malformed,
// unknown, expired, spent, replaced, or not the token of this email, or its
// account is disabled (DisableUser); ErrOverloaded (wrapped) when the store is too busy to hash.
func (s *Store) ResetPassword(ctx context.Context, email, token, newPassword string) error {
	probs := problems{}
	s.cfg.Policy.checkPassword(probs, FieldNewPassword, newPassword)
	if err := probs.err(); err != nil {
		return wrap("reset password", err)
	}
	claim, err := s.liveReset(ctx, email, token)
	if err != nil {
		return err
	}
	pwHash, err := s.hash(ctx, newPassword)
	if err != nil {
		return wrap("reset password", err)
	}
	err = s.inTx(ctx, "reset password", func(tx *txn) error {
		return tx.spendReset(claim, pwHash)
	})
	if errors.Is(err, ErrInvalidResetToken) {
		return ErrInvalidResetToken
	}
	return err
}

// resetClaim is a reset token that ResetPassword found live for an email
// address, before the transaction that spends it checks it again.
type resetClaim struct {
	userID         int64
	tokenHash      string
	emailCanonical string
}

// liveReset finds the live reset token of this email with a read alone,
// so that a refused token costs no hashing. Errors: ErrInvalidResetToken,
// unwrapped, when the token is malformed, unknown, expired, issued in the
// future, or not the token of this email; the database's, wrapped.
func (s *Store) liveReset(ctx context.Context, email, token string) (resetClaim, error) {
	hash, ok := tokenHash(token)
	canonical, okEmail := canonicalEmail(email)
	if !ok || !okEmail {
		return resetClaim{}, ErrInvalidResetToken
	}
	pr, err := read(ctx, s.q.GetPasswordReset, hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return resetClaim{}, ErrInvalidResetToken
		}
		return resetClaim{}, wrap("reset password", err)
	}
	if now := s.now(); pr.EmailCanonical != canonical || !now.Before(pr.ExpiresAt) || pr.CreatedAt.After(now.Add(MaxClockSkew)) {
		return resetClaim{}, ErrInvalidResetToken
	}
	return resetClaim{userID: pr.UserID, tokenHash: hash, emailCanonical: canonical}, nil
}

// spendReset spends c's token, if it is still live for c's email, and sets
// pwHash as the user's password; it ends every session of the user, starts
// the throttles of the account and its identifiers again, and records the
// reset. Errors: ErrInvalidResetToken when the token was spent, replaced or
// expired meanwhile, or the user deleted.
func (tx *txn) spendReset(c resetClaim, pwHash []byte) error {
	// The user's row first, as every password write does (LockUser).
	n, err := tx.q.TouchUser(tx.ctx, db.TouchUserParams{ID: c.userID, Now: tx.now})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrInvalidResetToken
	}
	if cur, err := tx.q.GetUserByID(tx.ctx, c.userID); err != nil {
		return err
	} else if cur.DisabledAt.Valid {
		return ErrInvalidResetToken // disabled: its tokens went, and none is honoured
	}
	_, err = read(tx.ctx, tx.q.ConsumePasswordReset, db.ConsumePasswordResetParams{
		TokenHash: c.tokenHash, UserID: c.userID, Now: tx.now, IssuedBefore: tx.now.Add(MaxClockSkew), EmailCanonical: c.emailCanonical,
	})
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidResetToken
	} else if err != nil {
		return err
	}
	n, err = tx.q.SetPasswordHash(tx.ctx, db.SetPasswordHashParams{PasswordHash: string(pwHash), UserID: c.userID, Now: tx.now})
	if err != nil {
		return err
	}
	if n == 0 {
		// A user without a credential cannot exist (the schema and
		// Register create both together); refuse rather than half-reset.
		return ErrInvalidResetToken
	}
	ended, err := tx.q.DeleteUserSessions(tx.ctx, c.userID)
	if err != nil {
		return err
	}
	u, err := tx.q.GetUserByID(tx.ctx, c.userID)
	if err != nil {
		return err
	}
	// Proof of control of the address: the account's login and reset
	// buckets start again, and those of its identifiers.
	buckets := []string{accountBucket(scopeLogin, c.userID), accountBucket(scopeReset, c.userID), identifierBucket(scopeLogin, u.Email)}
	if u.Username.Valid {
		buckets = append(buckets, identifierBucket(scopeLogin, u.Username.String))
	}
	if err := tx.clear(buckets...); err != nil {
		return err
	}
	detail := map[string]any{"sessions_ended": ended}
	if err := tx.flagSecondFactor(c.userID, detail); err != nil {
		return err
	}
	tx.record(EventPasswordReset, refOf(u), detail)
	return nil
}

// flagSecondFactor adds to a reset's audit detail whether the user has a
// second factor, and whether it was confirmed recently. The reset keeps the
// factor (the mailbox alone must not get around it); a factor confirmed
// shortly before, possibly by someone who had the old password, is flagged
// for the operator.
func (tx *txn) flagSecondFactor(userID int64, detail map[string]any) error {
	f, err := read(tx.ctx, tx.q.GetTOTPFactor, userID)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	detail["second_factor"] = true
	if tx.now.Sub(f.EnabledAt) < RecentFactorWindow {
		detail["recent_factor"] = true
	}
	return nil
}
