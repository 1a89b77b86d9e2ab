package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

// The keys that sign access tokens are Ed25519 key pairs in the
// signing_keys table: the private key (its seed) encrypted under
// Config.SecretKeys as TOTP secrets are, bound to its kid; the public key in
// the clear, for the JWKS. One key is active and signs; a rotation retires
// it, and a retired key keeps verifying until every token it signed has
// expired, when PurgeExpired deletes it.
//
// Every instance caches the keys for keyCacheTTL of its clock, so
// verification reads no database; an unknown kid reloads the cache at most
// once per keyReloadInterval, so a stream of forged kids cannot turn into a
// stream of queries. Because an instance may sign with a key up to
// keyCacheTTL after another instance retired it, a retired key is kept
// AccessTokenLifetime + MaxClockSkew + keyCacheTTL past its retirement.

// keyCacheTTL is how long an instance uses the keys it read before reading
// them again.
const keyCacheTTL = 30 * time.Second

// keyReloadInterval bounds the reloads an unknown kid causes.
const keyReloadInterval = time.Second

// signingKeyAAD binds an encrypted private key to its kid.
func signingKeyAAD(kid string) []byte {
	return []byte("credstore signing key v1 kid " + kid)
}

// publicKey is a key that verifies: the active one or a retired one.
type publicKey struct {
	kid       string
	key       ed25519.PublicKey
	createdAt time.Time
	retiredAt time.Time // zero while active
}

// keyCache is one read of signing_keys. It is never modified: a reload
// replaces it whole.
type keyCache struct {
	loadedAt time.Time
	keys     map[string]publicKey
	order    []string // kids, oldest first
	active   string
	signer   jose.Signer // of the active key; nil without a ring, or when the ring cannot open it
	// signerErr is why the active key has no signer: a key of the ring
	// missing (ErrNoSecretKey), or its row unreadable.
	signerErr error
}

// keys holds the store's key cache.
type keys struct {
	cur  atomic.Pointer[keyCache]
	mu   sync.Mutex // serialises reloads
	last time.Time  // of the last reload, under mu
}

// retention is how long a retired key stays published.
func (s *Store) keyRetention() time.Duration {
	return s.cfg.AccessTokenLifetime + MaxClockSkew + keyCacheTTL
}

// activeKeys returns the key cache with an active signing key, reading it
// again when it is older than keyCacheTTL, and creating the first key when
// the store has none.
//
// Errors: ErrNoSecretKey without Config.SecretKeys, or when the active key
// was encrypted under a key missing from the ring.
func (s *Store) activeKeys(ctx context.Context) (*keyCache, error) {
	if s.secretKeys() == nil {
		return nil, ErrNoSecretKey
	}
	now := s.now()
	c := s.keys.cur.Load()
	if c != nil && c.signer != nil && fresh(c, now) {
		return c, nil
	}
	c, err := s.reloadKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	if c.signer == nil {
		// No key yet; or the active key is under a key the ring lacks (a
		// lost key file, or another instance's newer key not yet loaded
		// here). A new key under the ring's current key signs from now
		// on; the old one keeps verifying what it signed, with its public
		// key, until it expires. Only this store's failure to sign is
		// replaced: the key is retired only if it is still the active one.
		if c.active != "" {
			s.cfg.Logger.Warn("the active token-signing key cannot be decrypted with the key file's keys; starting a new one",
				"kid", c.active, "err", c.signerErr.Error())
		}
		if _, err := s.newSigningKey(ctx, c.active); err != nil && !errors.Is(err, errKeyExists) {
			return nil, err
		}
		if c, err = s.reloadKeys(ctx, c); err != nil {
			return nil, err
		}
		if c.signer == nil {
			if c.signerErr != nil {
				return nil, c.signerErr
			}
			return nil, errors.New("signing key: none active after creating one")
		}
	}
	return c, nil
}

// fresh reports whether c may still be used at now: read less than
// keyCacheTTL ago, and not in the future (a clock set back).
func fresh(c *keyCache, now time.Time) bool {
	return now.Sub(c.loadedAt) < keyCacheTTL && !c.loadedAt.After(now)
}

// verifyingKey returns the public key of kid, reloading the cache when it is
// stale or, at most once per keyReloadInterval, when it lacks kid.
func (s *Store) verifyingKey(ctx context.Context, kid string) (publicKey, bool, error) {
	now := s.now()
	c := s.keys.cur.Load()
	if c != nil && fresh(c, now) {
		if k, ok := c.keys[kid]; ok {
			return k, true, nil
		}
		s.keys.mu.Lock()
		recent := now.Sub(s.keys.last) < keyReloadInterval && !s.keys.last.After(now)
		s.keys.mu.Unlock()
		if recent {
			return publicKey{}, false, nil
		}
	}
	c, err := s.reloadKeys(ctx, c)
	if err != nil {
		return publicKey{}, false, err
	}
	k, ok := c.keys[kid]
	return k, ok, nil
}

// reloadKeys reads signing_keys into a new cache, unless another caller
// replaced seen (the cache this one found stale or wanting) with a fresh
// one while this one waited for the lock.
func (s *Store) reloadKeys(ctx context.Context, seen *keyCache) (*keyCache, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	now := s.now()
	if c := s.keys.cur.Load(); c != nil && c != seen && fresh(c, now) {
		return c, nil
	}
	rows, err := read0(ctx, s.q.ListSigningKeys)
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	c := &keyCache{loadedAt: now, keys: make(map[string]publicKey, len(rows))}
	for _, r := range rows {
		pub, err := base64.StdEncoding.DecodeString(r.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("signing keys: public key of %q does not decode", r.Kid)
		}
		k := publicKey{kid: r.Kid, key: ed25519.PublicKey(pub), createdAt: r.CreatedAt.UTC()}
		if r.RetiredAt.Valid {
			k.retiredAt = r.RetiredAt.Time.UTC()
			if !now.Before(k.retiredAt.Add(s.keyRetention())) {
				continue // past its retention: as good as purged
			}
		} else {
			c.active = r.Kid
			if s.secretKeys() != nil {
				// A key the ring cannot open still verifies: only signing
				// needs the private key (activeKeys replaces it).
				c.signer, c.signerErr = s.openSigner(r)
			}
		}
		c.keys[r.Kid] = k
		c.order = append(c.order, r.Kid)
	}
	s.keys.cur.Store(c)
	s.keys.last = now
	return c, nil
}

// openSigner decrypts a signing key and returns its signer.
func (s *Store) openSigner(r db.SigningKey) (jose.Signer, error) {
	seed, err := s.secretKeys().openAAD(signingKeyAAD(r.Kid), r.KeyID, r.PrivateCt)
	if err != nil {
		return nil, wrap("signing key "+r.Kid, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s: %w", r.Kid, errSecretUnreadable)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: r.Kid, Algorithm: string(jose.EdDSA)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.Kid, err)
	}
	return signer, nil
}

// errKeyExists means an active signing key exists already: another caller
// (or instance) created the first key meanwhile.
var errKeyExists = errors.New("an active signing key exists")

// Which active key newSigningKey replaces.
const (
	noActiveKey  = ""  // none: errKeyExists when there is one
	anyActiveKey = "*" // whichever is active (a rotation)
)

// newSigningKey makes a new Ed25519 key and stores it as the active one. It
// retires the active key when replace is its kid, or anyActiveKey; when
// another key is active (replace noActiveKey, or another kid: a concurrent
// caller replaced it first) it fails with errKeyExists. The unique index
// signing_keys_state_key decides between concurrent callers on both
// engines. It returns the new key's kid.
func (s *Store) newSigningKey(ctx context.Context, replace string) (string, error) {
	k := s.secretKeys()
	if k == nil {
		return "", ErrNoSecretKey
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(s.cfg.Rand, seed); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	keyID, ct, err := k.sealAAD(s.cfg.Rand, signingKeyAAD(kid), seed)
	if err != nil {
		return "", wrap("signing key", err)
	}
	err = s.inTx(ctx, "signing key", func(tx *txn) error {
		detail := map[string]any{"kid": kid}
		if replace != noActiveKey {
			old, err := read0(tx.ctx, tx.q.GetActiveSigningKey)
			switch {
			case err == nil && replace != anyActiveKey && old.Kid != replace:
				return errKeyExists
			case err == nil:
				detail["retired_kid"] = old.Kid
				if _, err := tx.q.RetireSigningKey(tx.ctx, sql.NullTime{Time: tx.now, Valid: true}); err != nil {
					return err
				}
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		_, err := tx.q.CreateSigningKey(tx.ctx, db.CreateSigningKeyParams{
			Kid: kid, KeyID: keyID, PrivateCt: ct, PublicKey: base64.StdEncoding.EncodeToString(pub), Now: tx.now,
		})
		if v, ok := database.ConstraintOf(err); ok && v.Kind == database.Unique && v.Name == "signing_keys_state_key" {
			return errKeyExists
		}
		if err != nil {
			return err
		}
		tx.recordBy(EventSigningKeyCreated, nil, Actor{Kind: ActorSystem}, detail)
		return nil
	})
	if err != nil {
		return "", err
	}
	// The next use reads the keys again.
	s.keys.mu.Lock()
	s.keys.cur.Store(nil)
	s.keys.mu.Unlock()
	return kid, nil
}

// RotateSigningKey creates a new key to sign access tokens and retires the
// one that signed until now, and returns the new key's kid. Tokens signed
// by the retired key keep verifying until they expire; its public key stays
// in the JWKS until PurgeExpired deletes it, AccessTokenLifetime plus
// MaxClockSkew plus 30 seconds (how long another instance may keep signing
// with the key it read) after the rotation.
//
// Errors: ErrNoSecretKey without Config.SecretKeys.
func (s *Store) RotateSigningKey(ctx context.Context) (string, error) {
	for attempt := 0; ; attempt++ {
		kid, err := s.newSigningKey(ctx, anyActiveKey)
		// A concurrent rotation (or first creation) committed between
		// this one's retirement and insert: rotate over it.
		if errors.Is(err, errKeyExists) && attempt < 2 {
			continue
		}
		return kid, err
	}
}

// JWKS returns the public keys that verify access tokens (RFC 7517): the
// active key and the retired ones not yet past their retention, as another
// service fetches them (GET /.well-known/jwks.json) to verify tokens
// offline with NewJWKSVerifier or any JOSE library. It encodes to JSON as a
// JWK Set. It creates the first signing key when the store has none. A new
// key signs as soon as it is created, so a verifier that caches the set
// fetches it again when it meets an unknown kid.
//
// Errors: ErrNoSecretKey without Config.SecretKeys.
func (s *Store) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	c, err := s.activeKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, wrap("jwks", err)
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(c.order))}
	now := s.now()
	for _, kid := range c.order {
		k := c.keys[kid]
		if !k.retiredAt.IsZero() && !now.Before(k.retiredAt.Add(s.keyRetention())) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key, KeyID: kid, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	return set, nil
}

// purgeSigningKeys deletes the retired keys past their retention.
func (s *Store) purgeSigningKeys(tx *txn) (int64, error) {
	return tx.q.PurgeSigningKeys(tx.ctx, sql.NullTime{Time: tx.now.Add(-s.keyRetention()), Valid: true})
}
