package auth

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// maxVerifiedTokens bounds the access tokens a store remembers as verified:
// a few hundred bytes each, and only tokens whose signature verified, so
// no client can fill it with garbage.
const maxVerifiedTokens = 10000

// verifiedTokens remembers the access tokens whose signature and claims
// verified, by their SHA-256, so that a token presented again (a client
// sends the same one for its ten minutes) costs no Ed25519 verification,
// which is most of the cost of a token. What it remembers is only what
// cannot change: the signature was good and the issuer and audience were
// this store's. The times are checked again on every use, and so is the
// signing key, which must still be one the store verifies with (a key
// removed from the database stops its tokens as soon as the key cache
// notices, as without this memo); the session is read as before when the
// caller asks (CheckSession), so revocation is never delayed.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]AccessClaims
}

func (v *verifiedTokens) get(token string) (AccessClaims, bool) {
	sum := sumString(token)
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.m[sum]
	return c, ok
}

// put remembers c for token. When the memo is full it first forgets the
// tokens expired at now, and if that frees nothing, everything: a memo,
// not a record.
func (v *verifiedTokens) put(token string, c AccessClaims, now time.Time) {
	sum := sumString(token)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[sha256.Size]byte]AccessClaims)
	}
	if len(v.m) >= maxVerifiedTokens {
		for k, old := range v.m {
			if now.After(old.ExpiresAt.Add(MaxClockSkew)) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxVerifiedTokens {
			clear(v.m)
		}
	}
	v.m[sum] = c
}

// rememberedToken returns the claims of a token verified before, when its
// times and its signing key still hold at now; false sends the caller to
// verify it in full (which also gives the reason of a refusal).
func (s *Store) rememberedToken(ctx context.Context, token string, now time.Time) (AccessClaims, bool) {
	c, ok := s.verified.get(token)
	if !ok || now.After(c.ExpiresAt.Add(MaxClockSkew)) || now.Before(c.IssuedAt.Add(-MaxClockSkew)) {
		return AccessClaims{}, false
	}
	k, ok, err := s.verifyingKey(ctx, c.KeyID)
	if err != nil || !ok || (!k.retiredAt.IsZero() && !now.Before(k.retiredAt.Add(s.keyRetention()))) {
		return AccessClaims{}, false
	}
	return c, true
}

// sumString is the SHA-256 of s, without copying a token of usual size to
// the heap first (an access token is a few hundred bytes; larger ones are
// copied).
func sumString(s string) [sha256.Size]byte {
	var buf [1024]byte
	if len(s) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], s)])
	}
	return sha256.Sum256([]byte(s))
}
