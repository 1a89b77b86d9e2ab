package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/credstore/credstore/db"
)

// This file holds what a user does to their own account through a
// self-service API, beyond what the administrative methods (UpdateUser,
// DeleteUser) already do: each asks for proof the caller holds the
// account's secrets, throttled like a password change.

// UpdateOwnUser applies u to the user's own account, as the user does from
// a session: only Username, Email and Phone may be set (IsAdmin or Password
// is a *ValidationError), and a change of Email needs the current password,
// checked and throttled as ChangePassword checks it. The user's sessions but
// u.KeepSessionID end when the address changes (see UpdateUser). The change
// is recorded as the user's own unless ctx names another actor.
//
// The password is verified before the update's transaction (bcrypt is never
// run inside one), and the update writes only if the stored hash is still
// the one it was verified against: a password changed (or rehashed) in
// between makes it ErrInvalidCredentials.
//
// Errors: those of UpdateUser; ErrInvalidCredentials when the current
// password is wrong; *ThrottledError; *ValidationError "current_password"
// ("is required") when the email changes without it.
func (s *Store) UpdateOwnUser(ctx context.Context, id int64, currentPassword string, u UserUpdate) (User, error) {
	probs := problems{}
	if u.IsAdmin != nil {
		probs.add("is_admin", "cannot be changed by the user")
	}
	if u.Password != nil {
		probs.add(FieldPassword, "is changed with the current password (ChangePassword)")
	}
	if u.Email != nil && currentPassword == "" {
		probs.add(FieldCurrentPassword, "is required to change the email address")
	}
	if err := probs.err(); err != nil {
		return User{}, wrap("update own user", err)
	}
	var proof *passwordProof
	if u.Email != nil {
		hash, t, verr, err := s.verifyCurrentPassword(ctx, "update own user", id, FieldCurrentPassword, currentPassword)
		if err != nil {
			return User{}, err
		}
		if verr != nil {
			return User{}, s.currentPasswordFailed(ctx, t, "", verr)
		}
		proof = &passwordProof{bucket: t.bucket, provenPassword: provenPassword{
			userID: id, field: FieldCurrentPassword, password: currentPassword, hash: hash,
			failed: func(err error) error { return s.currentPasswordFailed(ctx, t, "", err) },
		}}
	}
	if _, named := actorFrom(ctx); !named {
		ctx = WithActor(ctx, Actor{Kind: ActorUser, UserID: id})
	}
	return s.updateUser(ctx, "update own user", id, u, proof)
}

// passwordProof is a current password verified before a transaction, which
// the transaction re-asserts, and the throttle bucket the check counted in,
// which it clears.
type passwordProof struct {
	provenPassword
	bucket string
}

// DeleteAccount deletes the user's own account, as the user does from a
// session: password is the current password and, when the user has a TOTP
// factor, code a current code of it or one of the user's recovery codes
// (for a user who lost the device). The database cascades the delete as
// for DeleteUser; the event is recorded as the user's own unless ctx names
// another actor.
//
// The delete happens only if the stored password hash is still the one the
// password was verified against, and, for a recovery code, only if the
// code is still unspent: both are asserted in the delete's transaction.
//
// Errors: ErrSecondFactorRequired (before any password work) when the user
// has a factor and code is empty; ErrInvalidCredentials for a wrong
// password or code (one error for both); *ThrottledError; ErrOverloaded
// (wrapped).
func (s *Store) DeleteAccount(ctx context.Context, id int64, password, code string) error {
	const op = "delete account"
	st, err := s.TwoFactor(ctx, id)
	if err != nil {
		return wrap(op, err)
	}
	var (
		hash   string
		rcHash string // a recovery code's, to spend in the transaction
		t      throttle
	)
	if st.TOTPEnabled {
		if strings.TrimSpace(code) == "" {
			return ErrSecondFactorRequired
		}
		if h, isRecovery := recoveryCodeHash(code); isRecovery {
			rcHash = h
		} else if _, _, hash, err = s.checkSecondFactor(ctx, op, id, password, code); err != nil {
			return err
		}
	}
	if hash == "" {
		h, tr, verr, err := s.verifyCurrentPassword(ctx, op, id, FieldPassword, password)
		if err != nil {
			return err
		}
		if verr != nil {
			return s.currentPasswordFailed(ctx, tr, "", verr)
		}
		hash, t = h, tr
	}
	p := provenPassword{userID: id, field: FieldPassword, password: password, hash: hash}
	err = s.whileProven(ctx, op, p, func(hash string) error { return s.deleteAccount(ctx, id, hash, rcHash) })
	switch {
	case errors.Is(err, errWrongCode):
		// The password was right; the recovery code was not (one error
		// for both, counted as a failure like a wrong password).
		return s.currentPasswordFailed(ctx, t, "wrong_password_or_code", ErrInvalidCredentials)
	case errors.Is(err, ErrInvalidCredentials):
		return ErrInvalidCredentials
	}
	return err
}

// deleteAccount is DeleteAccount's transaction: it deletes the user if
// their password hash is still hash (errCredentialChanged otherwise),
// spending the recovery code of hash rcHash when it is set (errWrongCode
// when it is not one of theirs).
func (s *Store) deleteAccount(ctx context.Context, id int64, hash, rcHash string) error {
	const op = "delete account"
	return s.inTx(ctx, op, func(tx *txn) error {
		u, err := tx.lockUser(id)
		if err != nil {
			return err
		}
		if err := tx.stillPassword(id, hash); err != nil {
			return err
		}
		if rcHash != "" {
			n, err := tx.q.SpendRecoveryCode(tx.ctx, db.SpendRecoveryCodeParams{UserID: id, CodeHash: rcHash})
			if err != nil {
				return err
			}
			if n == 0 {
				return errWrongCode
			}
		}
		if _, err := tx.q.DeleteUser(tx.ctx, id); err != nil {
			return err
		}
		if err := tx.clear(changeBucket(tx.ctx, id)); err != nil {
			return err
		}
		tx.record(EventUserDeleted, refOf(u), nil)
		return nil
	})
}

// RevokeOtherSessions ends every session of the user but keepSessionID, as
// a "log out everywhere else" button does, and returns how many ended. A
// user without an account has no sessions: 0, and no error.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keepSessionID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, "revoke other sessions", func(tx *txn) error {
		u, err := tx.lockUser(userID)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if n, err = tx.q.DeleteOtherUserSessions(tx.ctx, db.DeleteOtherUserSessionsParams{UserID: userID, KeepID: keepSessionID}); err != nil {
			return err
		}
		if n > 0 {
			tx.record(EventSessionsRevoked, refOf(u), map[string]any{"sessions": n, "kept_session_id": keepSessionID})
		}
		return nil
	})
	return n, err
}
