package auth

import (
	"context"

	"github.com/credstore/credstore/db"
)

// Registration is what a new user supplies.
type Registration struct {
	Username string // required or optional by Policy.RequireUsername
	Email    string // required
	Phone    string // E.164; required or optional by Policy.RequirePhone
	Password string
	IsAdmin  bool
}

// Register validates r, hashes the password and stores the new user with
// their credential, returning the user.
//
// Errors: *ValidationError (ErrValidation) listing every invalid field, with
// nothing written; *DuplicateError (ErrDuplicate) naming the field whose
// value another user holds (emails compared by their canonical form:
// case, width and Unicode normalisation do not make a new address). The
// database's unique constraints decide duplicates, so concurrent
// registrations of one name have exactly one winner.
func (s *Store) Register(ctx context.Context, r Registration) (User, error) {
	canonical, err := s.validateRegistration(r)
	if err != nil {
		return User{}, wrap("register", err)
	}
	hash, err := s.hash(ctx, r.Password)
	if err != nil {
		return User{}, wrap("register", err)
	}
	publicID, err := newUUIDv7(s.now(), s.cfg.Rand)
	if err != nil {
		return User{}, wrap("register", err)
	}
	var u db.User
	err = s.inTx(ctx, "register", func(tx *txn) error {
		var err error
		u, err = tx.q.CreateUser(tx.ctx, db.CreateUserParams{
			PublicID:       publicID,
			Username:       nullable(r.Username),
			Email:          r.Email,
			EmailCanonical: canonical,
			Phone:          nullable(r.Phone),
			IsAdmin:        r.IsAdmin,
			Now:            tx.now,
		})
		if err != nil {
			return mapError(err)
		}
		if err := tx.q.CreateCredential(tx.ctx, db.CreateCredentialParams{UserID: u.ID, PasswordHash: string(hash), Now: tx.now}); err != nil {
			return err
		}
		tx.record(EventUserRegistered, refOf(u), map[string]any{"is_admin": u.IsAdmin})
		if u.IsAdmin {
			tx.recordBy(EventAdminGranted, refOf(u), Actor{Kind: ActorSystem}, nil)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return userFromDB(u), nil
}

// validateRegistration checks r and returns the canonical form of its email.
func (s *Store) validateRegistration(r Registration) (string, error) {
	probs := problems{}
	canonical := s.checkProfile(probs, r.Username, r.Email, r.Phone)
	s.cfg.Policy.checkPassword(probs, FieldPassword, r.Password)
	return canonical, probs.err()
}

// checkProfile adds to probs what is wrong with a new user's username,
// email and phone, and returns the canonical form of the email.
func (s *Store) checkProfile(probs problems, username, email, phone string) string {
	p := s.cfg.Policy
	if username != "" {
		p.checkUsername(probs, username)
	} else if p.RequireUsername {
		probs.add(FieldUsername, "is required")
	}
	canonical := checkEmail(probs, email)
	if phone != "" {
		checkPhone(probs, phone)
	} else if p.RequirePhone {
		probs.add(FieldPhone, "is required")
	}
	return canonical
}
