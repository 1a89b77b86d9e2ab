package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
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
// (compared case-insensitively), replacing any token issued before, and
// delivers it through Config.ResetSender when one is set. The token is also
// returned, for callers that deliver it themselves.
//
// Errors: *ValidationError when email is empty; ErrNotFound when no account
// has this email; a delivery failure, wrapped (the token is stored and
// works all the same, and a new request replaces it).
func (s *Store) RequestPasswordReset(ctx context.Context, email string) (PasswordReset, error) {
	if email == "" {
		return PasswordReset{}, wrap("request password reset", &ValidationError{Fields: map[string]string{FieldEmail: "is required"}})
	}
	if len(email) > maxEmailLen {
		return PasswordReset{}, wrap("request password reset", ErrNotFound)
	}
	u, err := s.queries().GetUserByEmail(ctx, email)
	if err != nil {
		return PasswordReset{}, wrap("request password reset", mapError(err))
	}
	token, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return PasswordReset{}, wrap("request password reset", err)
	}
	now := s.now()
	r := PasswordReset{UserID: u.ID, Email: u.Email, Token: token, ExpiresAt: now.Add(s.cfg.ResetTokenLifetime)}
	err = s.inTx(ctx, func(q *db.Queries) error {
		err := q.UpsertPasswordReset(ctx, db.UpsertPasswordResetParams{
			UserID: u.ID, TokenHash: hash, Now: now, ExpiresAt: r.ExpiresAt,
		})
		if v, ok := database.ConstraintOf(err); ok && v.Kind == database.ForeignKey {
			return ErrNotFound // deleted since the lookup
		}
		return err
	})
	if err != nil {
		return PasswordReset{}, wrap("request password reset", err)
	}
	if s.cfg.ResetSender != nil {
		if err := s.cfg.ResetSender.Send(ctx, resetMessage(r, s.cfg.ResetTokenLifetime)); err != nil {
			return r, fmt.Errorf("request password reset: deliver: %w", err)
		}
	}
	return r, nil
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

// ResetPassword sets a new password for the account with this email if
// token is that account's live reset token, spends the token, and ends every
// session of the user. The new password is checked against the policy and
// hashed before the token is touched, so a refused password leaves the token
// usable. Spending is one conditional delete: of two concurrent uses of one
// token, exactly one succeeds.
//
// Errors: *ValidationError ("new_password") when the new password breaks the
// policy; ErrInvalidResetToken, unwrapped, when the token is malformed,
// unknown, expired, spent, replaced, or not the token of this email.
func (s *Store) ResetPassword(ctx context.Context, email, token, newPassword string) error {
	probs := problems{}
	s.cfg.Policy.checkPassword(probs, FieldNewPassword, newPassword)
	if err := probs.err(); err != nil {
		return wrap("reset password", err)
	}
	hash, ok := tokenHash(token)
	if !ok || email == "" || len(email) > maxEmailLen {
		return ErrInvalidResetToken
	}
	pwHash, err := s.hash(ctx, newPassword)
	if err != nil {
		return wrap("reset password", err)
	}
	err = s.inTx(ctx, func(q *db.Queries) error {
		now := s.now()
		userID, err := q.ConsumePasswordReset(ctx, db.ConsumePasswordResetParams{TokenHash: hash, Now: now, Email: email})
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidResetToken
		}
		if err != nil {
			return err
		}
		n, err := q.SetPasswordHash(ctx, db.SetPasswordHashParams{PasswordHash: string(pwHash), UserID: userID, Now: now})
		if err != nil {
			return err
		}
		if n == 0 {
			// A user without a credential cannot exist (the schema and
			// Register create both together); refuse rather than half-reset.
			return ErrInvalidResetToken
		}
		if _, err := q.TouchUser(ctx, db.TouchUserParams{ID: userID, Now: now}); err != nil {
			return err
		}
		_, err = q.DeleteUserSessions(ctx, userID)
		return err
	})
	if errors.Is(err, ErrInvalidResetToken) {
		return ErrInvalidResetToken
	}
	return wrap("reset password", err)
}
