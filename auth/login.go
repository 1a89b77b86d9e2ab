package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/credstore/credstore/db"
)

// Login authenticates a user by username, or by email (case-insensitively)
// when identifier contains '@', and returns the user.
//
// Every failure returns ErrInvalidCredentials, unwrapped, and costs one
// bcrypt comparison at the store's cost: an unknown user is compared against
// a dummy hash, so neither the error nor the timing tells a missing account
// from a wrong password. A password over MaxPasswordBytes is refused with an
// error that is ErrInvalidCredentials and also a *ValidationError saying so.
// Other errors are the database's, wrapped.
//
// A correct password stored at a cost below the store's is rehashed at the
// store's cost on the way through.
func (s *Store) Login(ctx context.Context, identifier, password string) (User, error) {
	row, hash, err := s.loginRow(ctx, identifier)
	switch {
	case errors.Is(err, ErrNotFound):
		hash = s.dummy
	case err != nil:
		return User{}, wrap("login", err)
	}
	ok, err := s.matches(ctx, hash, password)
	if err != nil {
		return User{}, wrap("login", err)
	}
	if err := checkLoginPassword(FieldPassword, password); err != nil {
		return User{}, err
	}
	if !ok || row == nil {
		return User{}, ErrInvalidCredentials
	}
	if needsRehash(hash, s.cfg.BcryptCost) {
		s.rehash(ctx, row.ID, hash, password)
	}
	return userFromDB(*row), nil
}

func (s *Store) loginRow(ctx context.Context, identifier string) (*db.User, []byte, error) {
	if identifier == "" || len(identifier) > maxEmailLen {
		return nil, nil, ErrNotFound
	}
	q := s.queries()
	if strings.Contains(identifier, "@") {
		r, err := q.GetLoginByEmail(ctx, identifier)
		if err != nil {
			return nil, nil, mapError(err)
		}
		return &r.User, []byte(r.PasswordHash), nil
	}
	r, err := q.GetLoginByUsername(ctx, nullable(identifier))
	if err != nil {
		return nil, nil, mapError(err)
	}
	return &r.User, []byte(r.PasswordHash), nil
}

// rehash stores password at the store's cost if the stored hash is still
// oldHash. It is best effort: the login has succeeded whatever happens here,
// and the next login tries again.
func (s *Store) rehash(ctx context.Context, userID int64, oldHash []byte, password string) {
	newHash, err := s.hash(ctx, password)
	if err != nil {
		return
	}
	_ = s.inTx(ctx, func(q *db.Queries) error {
		_, err := q.RehashPassword(ctx, db.RehashPasswordParams{
			NewHash: string(newHash),
			OldHash: string(oldHash),
			UserID:  userID,
		})
		return err
	})
}
