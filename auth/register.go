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
// value another user holds (email compared case-insensitively). The
// database's unique constraints decide duplicates, so concurrent
// registrations of one name have exactly one winner.
func (s *Store) Register(ctx context.Context, r Registration) (User, error) {
	if err := s.validateRegistration(r); err != nil {
		return User{}, wrap("register", err)
	}
	hash, err := s.hash(ctx, r.Password)
	if err != nil {
		return User{}, wrap("register", err)
	}
	now := s.now()
	publicID, err := newUUIDv7(now, s.cfg.Rand)
	if err != nil {
		return User{}, wrap("register", err)
	}
	var u db.User
	err = s.inTx(ctx, func(q *db.Queries) error {
		var err error
		u, err = q.CreateUser(ctx, db.CreateUserParams{
			PublicID: publicID,
			Username: nullable(r.Username),
			Email:    r.Email,
			Phone:    nullable(r.Phone),
			IsAdmin:  r.IsAdmin,
			Now:      now,
		})
		if err != nil {
			return mapError(err)
		}
		return q.CreateCredential(ctx, db.CreateCredentialParams{UserID: u.ID, PasswordHash: string(hash), Now: now})
	})
	if err != nil {
		return User{}, wrap("register", err)
	}
	return userFromDB(u), nil
}

func (s *Store) validateRegistration(r Registration) error {
	p := s.cfg.Policy
	probs := problems{}
	if r.Username != "" {
		p.checkUsername(probs, r.Username)
	} else if p.RequireUsername {
		probs.add(FieldUsername, "is required")
	}
	checkEmail(probs, r.Email)
	if r.Phone != "" {
		checkPhone(probs, r.Phone)
	} else if p.RequirePhone {
		probs.add(FieldPhone, "is required")
	}
	p.checkPassword(probs, FieldPassword, r.Password)
	return probs.err()
}
