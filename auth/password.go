package auth

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// hashPassword hashes a validated password. It is the slow step of every
// write that sets a password, and runs before the write transaction opens.
func hashPassword(password string, cost int) ([]byte, error) {
	if len(password) > MaxPasswordBytes {
		// Validation refuses these first; this guards against a caller
		// that skipped it, because bcrypt would silently drop the tail.
		return nil, fmt.Errorf("hash password: longer than %d bytes", MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// passwordMatches compares in constant time (bcrypt's own comparison uses
// crypto/subtle) and always runs bcrypt, so every call costs the same. A
// password over MaxPasswordBytes never matches, although bcrypt alone would
// match it by its first 72 bytes. A malformed stored hash matches nothing.
func passwordMatches(hash []byte, password string) bool {
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && len(password) <= MaxPasswordBytes
}

// needsRehash reports whether hash was made at a lower cost than the store's.
func needsRehash(hash []byte, cost int) bool {
	c, err := bcrypt.Cost(hash)
	return err == nil && c < cost
}

// hash hashes a validated password at the store's cost, waiting for a turn
// at the hash gate. Errors: ErrOverloaded, ctx's error.
func (s *Store) hash(ctx context.Context, password string) ([]byte, error) {
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return hashPassword(password, s.cfg.BcryptCost)
}
