package auth

import (
	"context"
	"crypto/rand"
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

// dummyHash returns the hash a login compares against when no user
// matched, so that it takes as long as a wrong password. bcrypt's work
// depends on the cost and the salt alone, not on whether the password
// matches, so the hash is made at the minimum cost and then labelled with
// cost: comparing against it runs bcrypt at cost, as a real hash would, and
// opening a store costs no hash at the configured cost (a command that
// never hashes, such as credstore audit, starts at once).
func dummyHash(cost int) ([]byte, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("dummy hash: cost %d out of range", cost)
	}
	secret := make([]byte, 32) // no password matches a hash of random bytes
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	h, err := bcrypt.GenerateFromPassword(secret, bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	// "$2a$04$" + salt and hash: the cost is the two digits after the
	// second '$'.
	return fmt.Appendf(nil, "%s%02d%s", h[:4], cost, h[6:]), nil
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
