package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// tokenStore opens a store with a keyring on dsn, on clk.
func tokenStore(t *testing.T, dsn string, clk *testdb.Clock, opts ...func(*auth.Config)) *auth.Store {
	t.Helper()
	return newStore(t, dsn, append([]func(*auth.Config){withClock(clk), withKeys(testKeys("k1"))}, opts...)...)
}

// mustTokens runs the password grant for the user reg(name) registered.
func mustTokens(t *testing.T, s *auth.Store, name string) auth.TokenResult {
	t.Helper()
	r, err := s.IssueTokens(context.Background(), auth.LoginAttempt{Identifier: name, Password: pw(name)})
	require.NoError(t, err)
	return r
}

// verifierOf builds an independent verifier from the store's JWKS as
// another service fetches it: encoded to JSON and decoded again.
func verifierOf(t *testing.T, s *auth.Store, iss, aud string) *auth.JWKSVerifier {
	t.Helper()
	set, err := s.JWKS(context.Background())
	require.NoError(t, err)
	doc, err := json.Marshal(set)
	require.NoError(t, err)
	v, err := auth.NewJWKSVerifier(doc, iss, aud)
	require.NoError(t, err)
	return v
}

func kids(t *testing.T, s *auth.Store) []string {
	t.Helper()
	set, err := s.JWKS(context.Background())
	require.NoError(t, err)
	out := []string{}
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestTokensPasswordGrant(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		alice := mustRegister(t, s, reg("alice"))

		r := mustTokens(t, s, "alice")
		assert.Equal(t, "Bearer", r.TokenType)
		assert.Equal(t, int64(600), r.ExpiresIn, "10 minutes by default")
		assert.Len(t, r.RefreshToken, 43)
		assert.Equal(t, alice.PublicID, r.User.PublicID)
		enc, err := json.Marshal(r)
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.Unmarshal(enc, &body))
		assert.ElementsMatch(t, []string{"access_token", "token_type", "expires_in", "refresh_token"}, keysOf(body),
			"the RFC 6749 §5.1 response and nothing else")

		for _, check := range []bool{false, true} {
			c, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{CheckSession: check})
			require.NoError(t, err)
			assert.Equal(t, alice.PublicID, c.Subject)
			assert.Equal(t, r.SessionID, c.SessionID)
			assert.Equal(t, r.ExpiresAt, c.ExpiresAt)
		}
		u, sess, c, err := s.AccessTokenUser(ctx, r.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, alice, u)
		assert.Equal(t, r.SessionID, c.SessionID)
		assert.Equal(t, r.SessionID, sess.ID)
		assert.Equal(t, alice.ID, sess.UserID)
		assert.Empty(t, sess.Token, "the session's token is never handed out again")

		// The header and the claims, as the issue specifies them.
		parsed, err := jwt.ParseSigned(r.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA})
		require.NoError(t, err)
		assert.Equal(t, "EdDSA", parsed.Headers[0].Algorithm)
		assert.Equal(t, kids(t, s), []string{parsed.Headers[0].KeyID})
		var raw map[string]any
		require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&raw))
		assert.ElementsMatch(t, []string{"iss", "sub", "aud", "exp", "nbf", "iat", "sid"}, keysOf(raw))
		assert.Equal(t, "credstore", raw["iss"])

		// The session is one of the user's, revocable as any other.
		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, r.SessionID, list[0].ID)

		// An independent verifier built from the JWKS alone accepts it.
		got, err := verifierOf(t, s, "credstore", "credstore").Verify(r.AccessToken, clk.Now())
		require.NoError(t, err)
		assert.Equal(t, alice.PublicID, got.Subject)

		_, err = s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: "wrong password"})
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		events := allEvents(t, s)
		assert.Equal(t, auth.EventLoginFailed, events[len(events)-1].Type)
	})
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTokensWithoutKeyring: every token operation needs Config.SecretKeys.
func TestTokensWithoutKeyring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, testdb.DSN(t, "sqlite"))
	mustRegister(t, s, reg("alice"))
	_, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.RefreshTokens(ctx, strings.Repeat("A", 43))
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.VerifyAccessToken(ctx, "x.y.z", auth.VerifyOptions{})
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.JWKS(ctx)
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.RotateSigningKey(ctx)
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.ChangePasswordTokens(ctx, 1, pw("alice"), "another-password-1")
	assert.ErrorIs(t, err, auth.ErrNoSecretKey)
	_, err = s.Login(ctx, "alice", pw("alice"))
	assert.NoError(t, err, "the refused change left the password alone")
	list, err := s.ListSessions(ctx, 1)
	require.NoError(t, err)
	assert.Empty(t, list, "the refused grant started no session")
}

// forge signs header and claims as a JWS compact serialisation with sign.
func forge(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, err := json.Marshal(claims)
	require.NoError(t, err)
	input := b64(h) + "." + b64(c)
	return input + "." + b64(sign([]byte(input)))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestAccessTokenRefused: the token-security list of issue 12, each refused
// by the store (with and without the session check) and by the independent
// verifier, with ErrInvalidToken and no trace of the token in the error.
func TestAccessTokenRefused(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		mustRegister(t, s, reg("alice"))
		good := mustTokens(t, s, "alice")
		set, err := s.JWKS(ctx)
		require.NoError(t, err)
		require.Len(t, set.Keys, 1)
		kid := set.Keys[0].KeyID
		pub := set.Keys[0].Key.(ed25519.PublicKey)
		parts := strings.Split(good.AccessToken, ".")
		require.Len(t, parts, 3)
		var claims map[string]any
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(payload, &claims))

		_, stranger, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		edSign := func(k ed25519.PrivateKey) func([]byte) []byte {
			return func(in []byte) []byte { return ed25519.Sign(k, in) }
		}
		hmacSign := func(key []byte) func([]byte) []byte {
			return func(in []byte) []byte { m := hmac.New(sha256.New, key); m.Write(in); return m.Sum(nil) }
		}
		with := func(k string, v any) map[string]any {
			c := map[string]any{}
			for k, v := range claims {
				c[k] = v
			}
			c[k] = v
			return c
		}
		jwkJSON, err := json.Marshal(set.Keys[0])
		require.NoError(t, err)

		// Tokens from stores on the same database (so signed by the same
		// key) whose issuer, audience or clock differ.
		other := func(o func(*auth.Config), at time.Time) string {
			r := mustTokens(t, tokenStore(t, dsn, testdb.NewClock(at), o), "alice")
			return r.AccessToken
		}
		cases := map[string]string{
			"wrong audience":  other(func(c *auth.Config) { c.TokenAudience = "another-service" }, t0),
			"wrong issuer":    other(func(c *auth.Config) { c.TokenIssuer = "https://evil.example" }, t0),
			"not yet valid":   other(func(*auth.Config) {}, t0.Add(10*time.Minute)),
			"alg none":        parts[0][:0] + b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + parts[1] + ".",
			"HS256 raw key":   forge(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims, hmacSign(pub)),
			"HS256 JWK JSON":  forge(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims, hmacSign(jwkJSON)),
			"HS256 base64":    forge(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims, hmacSign([]byte(base64.StdEncoding.EncodeToString(pub)))),
			"tampered sub":    parts[0] + "." + b64(mustJSON(t, with("sub", "01900000-0000-7000-8000-000000000000"))) + "." + parts[2],
			"tampered exp":    parts[0] + "." + b64(mustJSON(t, with("exp", 4102444800))) + "." + parts[2],
			"tampered sig":    parts[0] + "." + parts[1] + "." + flip(parts[2]),
			"unknown kid":     forge(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "not-a-kid"}, claims, edSign(stranger)),
			"stranger's key":  forge(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}, claims, edSign(stranger)),
			"no kid":          forge(t, map[string]any{"alg": "EdDSA", "typ": "JWT"}, claims, edSign(stranger)),
			"no exp":          forge(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}, with("exp", nil), edSign(stranger)),
			"not a token":     "not a token",
			"empty":           "",
			"a refresh token": good.RefreshToken,
		}
		v := verifierOf(t, s, "credstore", "credstore")
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				for _, check := range []bool{false, true} {
					_, err := s.VerifyAccessToken(ctx, tok, auth.VerifyOptions{CheckSession: check})
					require.ErrorIs(t, err, auth.ErrInvalidToken)
					if tok != "" {
						assert.NotContains(t, err.Error(), tok)
					}
				}
				_, err := v.Verify(tok, clk.Now())
				require.ErrorIs(t, err, auth.ErrInvalidToken)
				t.Log(err)
			})
		}

		// Expired: good until its exp plus the leeway, refused after.
		clk.Advance(10*time.Minute + auth.MaxClockSkew - time.Second)
		_, err = s.VerifyAccessToken(ctx, good.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)
		clk.Advance(2 * time.Second)
		_, err = s.VerifyAccessToken(ctx, good.AccessToken, auth.VerifyOptions{})
		assert.ErrorIs(t, err, auth.ErrInvalidToken)
		assert.ErrorContains(t, err, "expired")
		_, err = v.Verify(good.AccessToken, clk.Now())
		assert.ErrorIs(t, err, auth.ErrInvalidToken)
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// TestRefreshRotation: a refresh token works once; its successor works; a
// reused one ends the family, with an audit event, and every token of it.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		alice := mustRegister(t, s, reg("alice"))
		first := mustTokens(t, s, "alice")

		clk.Advance(5 * time.Minute)
		second, err := s.RefreshTokens(ctx, first.RefreshToken)
		require.NoError(t, err)
		assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
		assert.NotEqual(t, first.AccessToken, second.AccessToken)
		assert.Equal(t, first.SessionID, second.SessionID, "one family, one session")
		assert.Equal(t, alice, second.User)
		third, err := s.RefreshTokens(ctx, second.RefreshToken)
		require.NoError(t, err)
		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond), list[0].LastSeenAt, "a refresh is a use of the session")

		// The first token again: reuse. The whole family ends.
		_, err = s.RefreshTokens(ctx, first.RefreshToken)
		require.Equal(t, auth.ErrRefreshTokenReused, err)
		_, err = s.RefreshTokens(ctx, third.RefreshToken)
		assert.Equal(t, auth.ErrInvalidRefreshToken, err, "the live token of the family died with it")
		_, err = s.RefreshTokens(ctx, first.RefreshToken)
		assert.Equal(t, auth.ErrInvalidRefreshToken, err, "the family is gone: nothing left to revoke")
		list, err = s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.Zero(t, countRows(t, testdb.Raw(t, dsn), "refresh_tokens"))

		events := allEvents(t, s)
		last := events[len(events)-1]
		assert.Equal(t, auth.EventRefreshTokenReused, last.Type)
		assert.Equal(t, alice.PublicID, last.UserPublicID)
		assert.JSONEq(t, `{"session_id": `+strconv.FormatInt(first.SessionID, 10)+`}`, string(last.Detail))
		assert.Equal(t, 1, count(typesOf(events), auth.EventRefreshTokenReused), "once")

		// The access token: refused at once with the session check, good
		// without it until it expires.
		_, err = s.VerifyAccessToken(ctx, third.AccessToken, auth.VerifyOptions{CheckSession: true})
		assert.ErrorIs(t, err, auth.ErrInvalidToken)
		_, _, _, err = s.AccessTokenUser(ctx, third.AccessToken)
		assert.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = s.VerifyAccessToken(ctx, third.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)
		clk.Advance(10*time.Minute + auth.MaxClockSkew + time.Second)
		_, err = s.VerifyAccessToken(ctx, third.AccessToken, auth.VerifyOptions{})
		assert.ErrorIs(t, err, auth.ErrInvalidToken)

		for _, bad := range []string{"", "short", strings.Repeat("A", 43), first.AccessToken} {
			_, err := s.RefreshTokens(ctx, bad)
			assert.Equal(t, auth.ErrInvalidRefreshToken, err)
		}
	})
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// TestRefreshFamilyEnds: everything that ends sessions ends the families.
func TestRefreshFamilyEnds(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, s *auth.Store, u auth.User, r auth.TokenResult){
		"logout": func(t *testing.T, s *auth.Store, u auth.User, r auth.TokenResult) {
			require.NoError(t, s.RevokeSession(context.Background(), u.ID, r.SessionID))
		},
		"revoke all": func(t *testing.T, s *auth.Store, u auth.User, _ auth.TokenResult) {
			n, err := s.RevokeSessions(context.Background(), u.ID)
			require.NoError(t, err)
			assert.Equal(t, int64(1), n)
		},
		"password change": func(t *testing.T, s *auth.Store, u auth.User, _ auth.TokenResult) {
			require.NoError(t, s.ChangePassword(context.Background(), u.ID, pw("alice"), "another-password-1"))
		},
		"password set": func(t *testing.T, s *auth.Store, u auth.User, _ auth.TokenResult) {
			require.NoError(t, s.SetPassword(context.Background(), u.ID, "another-password-1"))
		},
		"password reset": func(t *testing.T, s *auth.Store, u auth.User, _ auth.TokenResult) {
			pr, err := s.RequestPasswordReset(context.Background(), u.Email)
			require.NoError(t, err)
			require.NoError(t, s.ResetPassword(context.Background(), u.Email, pr.Token, "another-password-1"))
		},
		"account deleted": func(t *testing.T, s *auth.Store, u auth.User, _ auth.TokenResult) {
			require.NoError(t, s.DeleteUser(context.Background(), u.ID))
		},
	}
	for name, end := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				clk := testdb.NewClock(t0)
				s := tokenStore(t, dsn, clk)
				u := mustRegister(t, s, reg("alice"))
				r := mustTokens(t, s, "alice")
				end(t, s, u, r)
				_, err := s.RefreshTokens(ctx, r.RefreshToken)
				assert.Equal(t, auth.ErrInvalidRefreshToken, err)
				_, err = s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{CheckSession: true})
				assert.ErrorIs(t, err, auth.ErrInvalidToken)
			})
		})
	}
}

// TestRefreshExpiresWithSession: a family lives as long as its session:
// the idle timeout (moved by each refresh) and the absolute lifetime.
func TestRefreshExpiresWithSession(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk, func(c *auth.Config) {
			c.SessionIdleTimeout = time.Hour
			c.SessionLifetime = 4*time.Hour + 30*time.Minute
		})
		mustRegister(t, s, reg("alice"))
		r := mustTokens(t, s, "alice")
		for range 5 { // 5 × 50 minutes: past the idle timeout of one hour, alive by refreshing
			clk.Advance(50 * time.Minute)
			var err error
			r, err = s.RefreshTokens(ctx, r.RefreshToken)
			require.NoError(t, err)
		}
		clk.Advance(50 * time.Minute) // 300 minutes: past the absolute lifetime
		_, err := s.RefreshTokens(ctx, r.RefreshToken)
		assert.Equal(t, auth.ErrInvalidRefreshToken, err)

		r = mustTokens(t, s, "alice")
		clk.Advance(time.Hour)
		_, err = s.RefreshTokens(ctx, r.RefreshToken)
		assert.Equal(t, auth.ErrInvalidRefreshToken, err, "idle")
	})
}

// TestRefreshConcurrent: two refreshes of one token racing. Reuse is strict:
// exactly one gets a new pair, the other ErrRefreshTokenReused, and the
// family (the winner's new token too) is dead.
func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		mustRegister(t, s, reg("alice"))
		for range 5 {
			r := mustTokens(t, s, "alice")
			var (
				wg   sync.WaitGroup
				res  [2]auth.TokenResult
				errs [2]error
			)
			for i := range 2 {
				wg.Go(func() { res[i], errs[i] = s.RefreshTokens(ctx, r.RefreshToken) })
			}
			wg.Wait()
			won := 0
			for i := range 2 {
				if errs[i] == nil {
					won++
					_, err := s.RefreshTokens(ctx, res[i].RefreshToken)
					assert.Equal(t, auth.ErrInvalidRefreshToken, err, "the family died with the reuse")
				} else {
					assert.Equal(t, auth.ErrRefreshTokenReused, errs[i])
				}
			}
			assert.Equal(t, 1, won)
		}
		assert.Zero(t, countRows(t, testdb.Raw(t, dsn), "refresh_tokens"))
	})
}

// TestTokensSecondFactor: the password grant of a user with TOTP asks for
// the code, and CompleteTokenLogin issues the tokens.
func TestTokensSecondFactor(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		alice := mustRegister(t, s, reg("alice"))
		secret, _ := mustEnroll(t, s, clk, alice.ID)
		_, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		var sf *auth.SecondFactorRequiredError
		require.ErrorAs(t, err, &sf)
		list, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, list)

		_, err = s.CompleteTokenLogin(ctx, auth.SecondFactor{Challenge: sf.Challenge, Code: wrongCode(t, secret, clk.Now())})
		assert.Equal(t, auth.ErrInvalidCredentials, err)
		r, err := s.CompleteTokenLogin(ctx, auth.SecondFactor{Challenge: sf.Challenge, Code: code(t, secret, clk.Now())})
		require.NoError(t, err)
		c, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{CheckSession: true})
		require.NoError(t, err)
		assert.Equal(t, alice.PublicID, c.Subject)
		_, err = s.RefreshTokens(ctx, r.RefreshToken)
		require.NoError(t, err)
	})
}

// TestSigningKeyRotation: after a rotation new tokens carry the new kid,
// the old key's tokens verify until they expire, the JWKS lists both keys,
// then only the new one once PurgeExpired has deleted the old.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		mustRegister(t, s, reg("alice"))
		old := mustTokens(t, s, "alice")
		oldKids := kids(t, s)
		require.Len(t, oldKids, 1)

		newKid, err := s.RotateSigningKey(ctx)
		require.NoError(t, err)
		assert.NotEqual(t, oldKids[0], newKid)
		assert.Equal(t, []string{oldKids[0], newKid}, kids(t, s))
		fresh := mustTokens(t, s, "alice")
		c, err := s.VerifyAccessToken(ctx, fresh.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)
		assert.Equal(t, newKid, c.KeyID)
		c, err = s.VerifyAccessToken(ctx, old.AccessToken, auth.VerifyOptions{CheckSession: true})
		require.NoError(t, err)
		assert.Equal(t, oldKids[0], c.KeyID)
		v := verifierOf(t, s, "credstore", "credstore")
		for _, tok := range []string{old.AccessToken, fresh.AccessToken} {
			_, err := v.Verify(tok, clk.Now())
			require.NoError(t, err)
		}
		events := allEvents(t, s)
		last := events[len(events)-1]
		for _, e := range events {
			if e.Type == auth.EventSigningKeyCreated {
				last = e
			}
		}
		assert.JSONEq(t, `{"kid": "`+newKid+`", "retired_kid": "`+oldKids[0]+`"}`, string(last.Detail))

		// Not yet: the old key is kept while a token it signed may live.
		clk.Advance(10 * time.Minute)
		p, err := s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Zero(t, p.SigningKeys)
		_, err = s.VerifyAccessToken(ctx, old.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err, "within its leeway")

		clk.Advance(auth.MaxClockSkew + 30*time.Second)
		p, err = s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), p.SigningKeys)
		assert.Equal(t, []string{newKid}, kids(t, s))
		_, err = s.VerifyAccessToken(ctx, old.AccessToken, auth.VerifyOptions{})
		assert.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = verifierOf(t, s, "credstore", "credstore").Verify(fresh.AccessToken, t0.Add(5*time.Minute))
		require.NoError(t, err)
	})
}

// TestFirstSigningKeyConcurrent: instances that start together on an empty
// store agree on one active key.
func TestFirstSigningKeyConcurrent(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		const n = 4
		stores := make([]*auth.Store, n)
		for i := range stores {
			stores[i] = tokenStore(t, dsn, testdb.NewClock(t0))
		}
		got := make([][]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				set, err := s.JWKS(context.Background())
				errs[i] = err
				for _, k := range set.Keys {
					got[i] = append(got[i], k.KeyID)
				}
			})
		}
		wg.Wait()
		for i := range stores {
			require.NoError(t, errs[i])
			require.Len(t, got[i], 1)
			assert.Equal(t, got[0], got[i])
		}
		assert.Equal(t, 1, countRows(t, testdb.Raw(t, dsn), "signing_keys"))
	})
}

// TestSigningKeysEncrypted: the private key is stored only encrypted under
// the keyring, and moves to a new ring key with ReencryptSecrets.
func TestSigningKeysEncrypted(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		mustRegister(t, s, reg("alice"))
		r := mustTokens(t, s, "alice")

		s2 := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2", "k1")))
		n, err := s2.ReencryptSecrets(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		var keyID string
		require.NoError(t, testdb.Raw(t, dsn).QueryRow("SELECT key_id FROM signing_keys").Scan(&keyID))
		assert.Equal(t, "k2", keyID)

		// Only k2 now: the key still signs, and verifies what k1's era signed.
		s3 := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2")))
		_, err = s3.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{CheckSession: true})
		require.NoError(t, err)
		r2 := mustTokens(t, s3, "alice")
		_, err = s.VerifyAccessToken(ctx, r2.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)

		// A ring without k2 (its key lost) cannot open that signing key: a
		// new one under k3 signs instead, and what k2's key signed still
		// verifies (issue 23: a lost key is not a failure of every token).
		s4 := newStore(t, dsn, withClock(clk), withKeys(testKeys("k3")))
		r3, err := s4.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		require.NoError(t, err)
		for _, tok := range []string{r2.AccessToken, r3.AccessToken} {
			_, err = s4.VerifyAccessToken(ctx, tok, auth.VerifyOptions{})
			require.NoError(t, err)
		}
		var underK3 int
		require.NoError(t, testdb.Raw(t, dsn).QueryRow("SELECT COUNT(*) FROM signing_keys WHERE key_id = 'k3'").Scan(&underK3))
		assert.Equal(t, 1, underK3, "the new key is stored only encrypted, under k3")
	})
}

// TestAccessTokenRememberedChecksAgain: a token verified once is
// remembered (no second Ed25519 verification), but its times and its key
// are checked on every use: it expires on time, and a signing key deleted
// from the database stops the tokens it signed once the key cache (30 s)
// notices, as it would for a token never seen.
func TestAccessTokenRememberedChecksAgain(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := tokenStore(t, dsn, clk)
		mustRegister(t, s, reg("alice"))
		r := mustTokens(t, s, "alice")
		for range 2 { // the second time from memory
			_, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{})
			require.NoError(t, err)
		}
		clk.Advance(auth.DefaultAccessTokenLifetime + auth.MaxClockSkew + time.Second)
		_, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{})
		require.ErrorIs(t, err, auth.ErrInvalidToken, "expired, remembered or not")

		r = mustTokens(t, s, "alice")
		_, err = s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)
		_, err = testdb.Raw(t, dsn).Exec("DELETE FROM signing_keys")
		require.NoError(t, err)
		clk.Advance(31 * time.Second)
		_, err = s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{})
		require.ErrorIs(t, err, auth.ErrInvalidToken, "its key is gone")
	})
}
