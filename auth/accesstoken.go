package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/credstore/credstore/db"
)

// Access tokens are JWTs (RFC 7519) signed with Ed25519 ("EdDSA", RFC 8037)
// by go-jose. Verification accepts that one algorithm and no other, so
// neither "none" nor an HMAC keyed with the public key (algorithm
// confusion) gets through: the allow-list is checked by the parser before
// any key is looked at.

// tokenAlgorithms is the allow-list of JWS algorithms.
var tokenAlgorithms = []jose.SignatureAlgorithm{jose.EdDSA}

// AccessClaims are what a verified access token says.
type AccessClaims struct {
	// Subject is the user's PublicID (the "sub" claim).
	Subject string `json:"sub"`
	// SessionID is the id of the session the token was issued in (the "sid"
	// claim, in decimal): the id a user's session list shows, which
	// RevokeSession takes together with the owner's id. It is not a secret,
	// and not the session token.
	SessionID int64     `json:"sid"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
	// KeyID is the kid of the key that signed the token.
	KeyID string `json:"kid"`
}

// accessClaims is the token's payload.
type accessClaims struct {
	jwt.Claims
	SessionID string `json:"sid"`
}

// signAccessToken signs a token for the user's session with the active
// key, valid for Config.AccessTokenLifetime from now.
func (s *Store) signAccessToken(c *keyCache, publicID string, sessionID int64, now time.Time) (string, time.Time, error) {
	now = now.Truncate(time.Second) // NumericDate has whole seconds
	exp := now.Add(s.cfg.AccessTokenLifetime)
	claims := accessClaims{
		Claims: jwt.Claims{
			Issuer:    s.cfg.TokenIssuer,
			Subject:   publicID,
			Audience:  jwt.Audience{s.cfg.TokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(exp),
		},
		SessionID: strconv.FormatInt(sessionID, 10),
	}
	tok, err := jwt.Signed(c.signer).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return tok, exp, nil
}

// tokenExpectations is what a verifier requires of a token besides its
// signature.
type tokenExpectations struct {
	issuer, audience string
	now              time.Time
	leeway           time.Duration
}

// verifyToken parses and checks an access token with the key that key
// returns for its kid. Every failure is a *tokenError with a fixed reason.
func verifyToken(token string, key func(kid string) (ed25519.PublicKey, error), e tokenExpectations) (AccessClaims, error) {
	if len(token) > maxTokenBytes {
		return AccessClaims{}, invalidToken("too long")
	}
	parsed, err := jwt.ParseSigned(token, tokenAlgorithms)
	if err != nil {
		return AccessClaims{}, invalidToken("malformed, or not signed with EdDSA")
	}
	if len(parsed.Headers) != 1 {
		return AccessClaims{}, invalidToken("not exactly one signature")
	}
	h := parsed.Headers[0]
	if h.Algorithm != string(jose.EdDSA) || h.KeyID == "" {
		return AccessClaims{}, invalidToken("no kid, or not EdDSA")
	}
	pub, err := key(h.KeyID)
	if err != nil {
		return AccessClaims{}, err
	}
	var c accessClaims
	if err := parsed.Claims(pub, &c); err != nil {
		return AccessClaims{}, invalidToken("bad signature or payload")
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return AccessClaims{}, invalidToken("no exp or iat")
	}
	err = c.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      e.issuer,
		AnyAudience: jwt.Audience{e.audience},
		Time:        e.now,
	}, e.leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return AccessClaims{}, invalidToken("expired")
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return AccessClaims{}, invalidToken("not valid yet")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return AccessClaims{}, invalidToken("wrong issuer")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return AccessClaims{}, invalidToken("wrong audience")
	case err != nil:
		return AccessClaims{}, invalidToken("claims do not validate")
	}
	sid, err := strconv.ParseInt(c.SessionID, 10, 64)
	if err != nil || sid <= 0 || c.Subject == "" {
		return AccessClaims{}, invalidToken("no sub or sid")
	}
	return AccessClaims{
		Subject:   c.Subject,
		SessionID: sid,
		IssuedAt:  c.IssuedAt.Time().UTC(),
		ExpiresAt: c.Expiry.Time().UTC(),
		KeyID:     h.KeyID,
	}, nil
}

// maxTokenBytes bounds the access tokens parsed: credstore's are about 400
// bytes.
const maxTokenBytes = 4096

// VerifyOptions say how VerifyAccessToken checks a token.
type VerifyOptions struct {
	// CheckSession also reads the token's session (one read by primary
	// key), so a token of a session that ended (logout, revocation, a
	// password change or reset, deleted account, refresh-token reuse) is
	// refused at once rather than when it expires.
	CheckSession bool
}

// VerifyAccessToken verifies an access token issued by this store (or by
// another instance on the same database): its EdDSA signature by a key of
// the store's JWKS, its issuer and audience (Config.TokenIssuer,
// Config.TokenAudience), and its times (with MaxClockSkew of leeway).
// Without CheckSession it reads no database, except to load the keys at
// most every 30 seconds (or once a second when a token names a kid the
// cache lacks).
//
// Errors: ErrInvalidToken for every token refused, wrapped with a reason
// for logs; ErrNoSecretKey without Config.SecretKeys; the database's.
func (s *Store) VerifyAccessToken(ctx context.Context, token string, opt VerifyOptions) (AccessClaims, error) {
	if opt.CheckSession {
		_, _, c, err := s.AccessTokenUser(ctx, token)
		return c, err
	}
	return s.verifyAccessToken(ctx, token)
}

func (s *Store) verifyAccessToken(ctx context.Context, token string) (AccessClaims, error) {
	if s.secretKeys() == nil {
		return AccessClaims{}, wrap("verify access token", ErrNoSecretKey)
	}
	now := s.now()
	if c, ok := s.rememberedToken(ctx, token, now); ok {
		return c, nil
	}
	c, err := verifyToken(token, func(kid string) (ed25519.PublicKey, error) {
		k, ok, err := s.verifyingKey(ctx, kid)
		switch {
		case err != nil:
			return nil, wrap("verify access token", err)
		case !ok:
			return nil, invalidToken("unknown kid")
		case !k.retiredAt.IsZero() && !now.Before(k.retiredAt.Add(s.keyRetention())):
			return nil, invalidToken("key retired")
		}
		return k.key, nil
	}, tokenExpectations{issuer: s.cfg.TokenIssuer, audience: s.cfg.TokenAudience, now: now, leeway: MaxClockSkew})
	if err == nil {
		s.verified.put(token, c, now)
	}
	return c, err
}

// AccessTokenUser verifies an access token as VerifyAccessToken does with
// CheckSession, and returns its user and session with its claims, from the
// one read of the session (or none: the session is cached as SessionUser
// caches it): what a handler of an authenticated route needs. The
// session's Token is empty (the token presented is not the session's).
//
// Errors: those of VerifyAccessToken; ErrInvalidToken also when the session
// has ended or its user is no longer the token's subject.
func (s *Store) AccessTokenUser(ctx context.Context, token string) (User, Session, AccessClaims, error) {
	p, c, err := s.accessTokenProfile(ctx, token)
	return p.user, p.sess, c, err
}

// AccessTokenProfile is AccessTokenUser returning also the user's
// second-factor status, from the same read.
//
// Errors: those of AccessTokenUser.
func (s *Store) AccessTokenProfile(ctx context.Context, token string) (User, Session, TwoFactorStatus, AccessClaims, error) {
	p, c, err := s.accessTokenProfile(ctx, token)
	return p.user, p.sess, p.tf, c, err
}

func (s *Store) accessTokenProfile(ctx context.Context, token string) (sessionProfile, AccessClaims, error) {
	c, err := s.verifyAccessToken(ctx, token)
	if err != nil {
		return sessionProfile{}, AccessClaims{}, err
	}
	key := cacheKey{id: c.SessionID}
	now := s.now()
	p, ok := s.cache.get(ctx, key)
	if !ok || !s.live(p.sess, now) {
		// An access token does not record the session's use (refreshing
		// does), so a remembered session is used until it changes.
		g := s.cache.generation()
		row, err := read(ctx, s.q.GetTokenSessionProfile, db.GetTokenSessionProfileParams{ID: c.SessionID, Now: now})
		if errors.Is(err, ErrNotFound) {
			return sessionProfile{}, AccessClaims{}, invalidToken("session ended")
		} else if err != nil {
			return sessionProfile{}, AccessClaims{}, wrap("verify access token", err)
		}
		p = sessionProfile{user: userFromDB(row.User), sess: sessionFromDB(row.Session), tf: twoFactorStatus(row.Factors, row.Enrollments, row.RecoveryCodes)}
		if !s.live(p.sess, now) || p.user.DisabledAt != nil {
			return sessionProfile{}, AccessClaims{}, invalidToken("session ended")
		}
		s.remember(key, p, g)
	}
	if p.user.PublicID != c.Subject {
		return sessionProfile{}, AccessClaims{}, invalidToken("session ended")
	}
	return p, c, nil
}

// JWKSVerifier verifies credstore access tokens with nothing but the JWK
// Set that credstore publishes (Store.JWKS, GET /.well-known/jwks.json):
// what another service uses to authenticate credstore's users offline. It
// checks the signature (EdDSA only), the issuer, the audience and the
// times, with MaxClockSkew of leeway; it cannot tell a revoked session, for
// which that service would ask credstore.
type JWKSVerifier struct {
	keys             map[string]ed25519.PublicKey
	issuer, audience string
}

// NewJWKSVerifier returns a verifier of the tokens signed by the Ed25519
// keys of the JWK Set document jwks, for the issuer and audience given
// (Config.TokenIssuer and Config.TokenAudience of the store that issues
// them). Keys of other types or algorithms in the set are ignored.
//
// Errors: the document does not decode, or holds no Ed25519 key.
func NewJWKSVerifier(jwks []byte, issuer, audience string) (*JWKSVerifier, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	v := &JWKSVerifier{keys: map[string]ed25519.PublicKey{}, issuer: issuer, audience: audience}
	for _, k := range set.Keys {
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || k.KeyID == "" || (k.Algorithm != "" && k.Algorithm != string(jose.EdDSA)) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		v.keys[k.KeyID] = pub
	}
	if len(v.keys) == 0 {
		return nil, errors.New("jwks: no Ed25519 signing key")
	}
	return v, nil
}

// Verify verifies token at the time now.
//
// Errors: ErrInvalidToken, wrapped with a reason, for every token refused.
func (v *JWKSVerifier) Verify(token string, now time.Time) (AccessClaims, error) {
	return verifyToken(token, func(kid string) (ed25519.PublicKey, error) {
		if k, ok := v.keys[kid]; ok {
			return k, nil
		}
		return nil, invalidToken("unknown kid")
	}, tokenExpectations{issuer: v.issuer, audience: v.audience, now: now, leeway: MaxClockSkew})
}
