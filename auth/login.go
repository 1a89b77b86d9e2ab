package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/credstore/credstore/db"
)

// errCredentialChanged means a transaction found a user's password hash no
// longer the one a password was verified against outside it: a password
// change, set or reset (or a rehash) committed in between.
var errCredentialChanged = errors.New("credential changed since it was verified")

// credentialRetries bounds how often an operation verifies a password again
// after errCredentialChanged. A rehash keeps the password, so verifying once
// more against the new hash succeeds; only a stream of concurrent changes
// can exhaust it, and then the password given is not reliably current.
const credentialRetries = 2

// Login authenticates a user by username, or by email (by its canonical
// form, so in any case, width or normalisation) when identifier contains
// '@', and returns the user.
//
// Every failure returns ErrInvalidCredentials, unwrapped, and costs one
// bcrypt comparison at the store's cost: an unknown user is compared against
// a dummy hash, so neither the error nor the timing tells a missing account
// from a wrong password. A password over MaxPasswordBytes, with a control
// character or with invalid UTF-8 is refused with an error that is
// ErrInvalidCredentials and also a *ValidationError saying so. ErrOverloaded
// (wrapped) means the store was too busy to try. Other errors are the
// database's, wrapped.
//
// A correct password stored at a cost below the store's is rehashed at the
// store's cost on the way through.
func (s *Store) Login(ctx context.Context, identifier, password string) (User, error) {
	u, _, err := s.authenticate(ctx, identifier, password)
	return u, err
}

// authenticate is Login, returning also the hash the password was verified
// against (the new one if it rehashed), for a transaction to re-assert.
func (s *Store) authenticate(ctx context.Context, identifier, password string) (User, []byte, error) {
	row, hash, err := s.loginRow(ctx, identifier)
	switch {
	case errors.Is(err, ErrNotFound):
		hash = s.dummy
	case err != nil:
		return User{}, nil, wrap("login", err)
	}
	ok, err := s.matches(ctx, hash, password)
	if err != nil {
		return User{}, nil, wrap("login", err)
	}
	if err := checkLoginPassword(FieldPassword, password); err != nil {
		return User{}, nil, err
	}
	if !ok || row == nil {
		return User{}, nil, ErrInvalidCredentials
	}
	if needsRehash(hash, s.cfg.BcryptCost) {
		if newHash, ok := s.rehash(ctx, row.ID, hash, password); ok {
			hash = newHash
		}
	}
	return userFromDB(*row), hash, nil
}

// loginRow finds the user and hash for identifier. Input that no account can
// have (invalid UTF-8, NUL, an address without a canonical form) is
// ErrNotFound without a query.
func (s *Store) loginRow(ctx context.Context, identifier string) (*db.User, []byte, error) {
	q := s.queries()
	if strings.Contains(identifier, "@") {
		canonical, ok := canonicalEmail(identifier)
		if !ok {
			return nil, nil, ErrNotFound
		}
		r, err := q.GetLoginByEmail(ctx, canonical)
		if err != nil {
			return nil, nil, mapError(err)
		}
		return &r.User, []byte(r.PasswordHash), nil
	}
	if !lookupUsername(identifier) {
		return nil, nil, ErrNotFound
	}
	r, err := q.GetLoginByUsername(ctx, nullable(identifier))
	if err != nil {
		return nil, nil, mapError(err)
	}
	return &r.User, []byte(r.PasswordHash), nil
}

// rehash stores password at the store's cost if the stored hash is still
// oldHash, and returns the new hash when it did. It is best effort: the
// login has succeeded whatever happens here, and the next login tries again.
func (s *Store) rehash(ctx context.Context, userID int64, oldHash []byte, password string) ([]byte, bool) {
	newHash, err := s.hash(ctx, password)
	if err != nil {
		return nil, false
	}
	var n int64
	err = s.inTx(ctx, func(q *db.Queries) error {
		var err error
		n, err = q.RehashPassword(ctx, db.RehashPasswordParams{
			NewHash: string(newHash),
			OldHash: string(oldHash),
			UserID:  userID,
		})
		return err
	})
	return newHash, err == nil && n == 1
}

// verifyPassword checks password against the user's stored hash as Login
// does (one bcrypt comparison whether or not the user exists) and returns
// the hash it matched. field names the password in a *ValidationError.
//
// Errors: ErrInvalidCredentials (also a *ValidationError for input no
// password can be), ErrOverloaded, the database's.
func (s *Store) verifyPassword(ctx context.Context, userID int64, field, password string) (string, error) {
	hash, err := s.queries().GetPasswordHash(ctx, userID)
	found := err == nil
	if !found {
		if err = mapError(err); !errors.Is(err, ErrNotFound) {
			return "", err
		}
		hash = string(s.dummy)
	}
	ok, err := s.matches(ctx, []byte(hash), password)
	if err != nil {
		return "", err
	}
	if err := checkLoginPassword(field, password); err != nil {
		return "", err
	}
	if !ok || !found {
		return "", ErrInvalidCredentials
	}
	return hash, nil
}
