package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestSetSecretKeysFollowsRotation: a service (one store) runs while the
// command line (another store on the same database) rotates the keys: it
// moves every secret to the new key and starts a new token-signing key
// under it. Until the service has the new ring, its users' codes cannot be
// verified; once SetSecretKeys hands it over, codes verify, tokens issue,
// and the tokens issued before the rotation still verify throughout.
func TestSetSecretKeysFollowsRotation(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		svc := newStore(t, dsn, withClock(clk), withKeys(testKeys("k1")))
		alice := mustRegister(t, svc, reg("alice"))
		secret, _ := mustEnroll(t, svc, clk, alice.ID)
		bob := mustRegister(t, svc, reg("bob"))
		before, err := svc.IssueTokens(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err)

		cli := newStore(t, dsn, withClock(clk), withKeys(testKeys("k2", "k1")))
		moved, err := cli.ReencryptSecrets(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 2, moved, "alice's factor and the signing key")
		_, err = cli.RotateSigningKey(ctx)
		require.NoError(t, err)

		_, err = svc.VerifyAccessToken(ctx, before.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err, "a token signed before the rotation verifies with its public key")
		ch := challengeOf(t, svc, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		_, err = svc.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
		require.ErrorIs(t, err, auth.ErrNoSecretKey, "the service lacks the new key")
		missing, err := svc.MissingKeys(ctx)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"k2": 1}, missing)

		require.NoError(t, svc.SetSecretKeys(testKeys("k2", "k1")))
		missing, err = svc.MissingKeys(ctx)
		require.NoError(t, err)
		assert.Empty(t, missing)
		clk.Advance(totpStep)
		ch = challengeOf(t, svc, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		_, err = svc.CompleteLogin(ctx, auth.SecondFactor{Challenge: ch, Code: code(t, secret, clk.Now())})
		require.NoError(t, err, "the code verifies under the new key")
		after, err := svc.IssueTokens(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err)
		for _, tok := range []string{before.AccessToken, after.AccessToken} {
			c, err := svc.VerifyAccessToken(ctx, tok, auth.VerifyOptions{})
			require.NoError(t, err)
			assert.Equal(t, bob.PublicID, c.Subject)
		}
		require.Error(t, svc.SetSecretKeys(&auth.Keyring{Current: "k3", Keys: map[string][]byte{"k3": make([]byte, 5)}}),
			"a ring that does not check is refused")
		require.Error(t, svc.SetSecretKeys(nil))
	})
}

// TestSigningKeyUnderLostKey: the key that encrypts the active token-signing
// key is lost (the key file replaced by one with another key). Tokens it
// signed keep verifying with its public key, and the next token is signed
// by a new key under the ring's current one: a lost key is never a failure
// of every token operation.
func TestSigningKeyUnderLostKey(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withKeys(testKeys("lost")))
		mustRegister(t, s, reg("bob"))
		before, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err)

		restarted := newStore(t, dsn, withKeys(testKeys("fresh")))
		_, err = restarted.VerifyAccessToken(ctx, before.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err, "the old token verifies")
		after, err := restarted.IssueTokens(ctx, auth.LoginAttempt{Identifier: "bob", Password: pw("bob")})
		require.NoError(t, err, "a new signing key signs")
		_, err = restarted.VerifyAccessToken(ctx, after.AccessToken, auth.VerifyOptions{})
		require.NoError(t, err)
		_, err = restarted.RefreshTokens(ctx, before.RefreshToken)
		require.NoError(t, err, "a refresh token of before the loss is exchanged")
		set, err := restarted.JWKS(ctx)
		require.NoError(t, err)
		assert.Len(t, set.Keys, 2, "the old key stays published beside the new one")
	})
}
