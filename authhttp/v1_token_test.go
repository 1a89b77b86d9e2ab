package authhttp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// startTokens serves the API v1 under /api/v1 and the JWK Set at
// /.well-known/jwks.json, as credstore serve does, with a key ring.
func startTokens(t *testing.T, dsn string, cfgOpts ...func(*auth.Config)) *service {
	t.Helper()
	h, svc := newHandler(t, dsn, authhttp.Options{}, cfgOpts...)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
	mux.Handle("/.well-known/jwks.json", h.JWKS())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		assert.NoError(t, h.Shutdown(context.Background()))
	})
	svc.URL = srv.URL
	return svc
}

// token posts the form to POST /token, as an OAuth client does.
func (c *api) token(form url.Values) reply {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+"/token", strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	return c.decodeReply(resp)
}

func (c *api) decodeReply(resp *http.Response) reply {
	c.t.Helper()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(c.t, json.Unmarshal(raw, &r.Body), "body %q", raw)
	}
	return r
}

// verifyByHand verifies an access token with crypto/ed25519 and the JWK
// Set alone, independently of the JOSE library credstore uses, and returns
// its subject.
func verifyByHand(t *testing.T, jwks []byte, token string, now time.Time) string {
	t.Helper()
	var set struct {
		Keys []struct{ Kty, Crv, Kid, Alg, X string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(jwks, &set))
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	decode := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	var header struct{ Alg, Kid, Typ string }
	require.NoError(t, json.Unmarshal(decode(parts[0]), &header))
	require.Equal(t, "EdDSA", header.Alg)
	var key ed25519.PublicKey
	for _, k := range set.Keys {
		if k.Kid == header.Kid {
			require.Equal(t, "OKP", k.Kty)
			require.Equal(t, "Ed25519", k.Crv)
			key = ed25519.PublicKey(decode(k.X))
		}
	}
	require.Len(t, key, ed25519.PublicKeySize, "the token's kid is in the set")
	require.True(t, ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), decode(parts[2])), "the signature verifies")
	var claims struct {
		Sub, Iss, Sid any
		Aud           any
		Exp, Iat      int64
	}
	require.NoError(t, json.Unmarshal(decode(parts[1]), &claims))
	assert.Equal(t, "credstore", claims.Iss)
	assert.Contains(t, fmt.Sprint(claims.Aud), "credstore")
	assert.Greater(t, claims.Exp, now.Unix(), "not expired")
	assert.LessOrEqual(t, claims.Iat, now.Unix()+60)
	assert.NotNil(t, claims.Sid)
	return claims.Sub.(string)
}

func passwordGrant(username, password string) url.Values {
	return url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
}

func refreshGrant(token string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
}

// TestV1Tokens: the token endpoint over a real server, on both engines.
// The password grant gives a JWT that authenticates the API's routes and
// verifies with nothing but the published JWK Set; a refresh token is used
// once, and using it again ends its session, whose access tokens stop at
// once; logging out with an access token ends its session and its refresh
// token; refusals come in the API's error shape.
func TestV1Tokens(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startTokens(t, dsn, withTOTPKeys)
		client := svc.api(t)
		client.http.Jar = nil // a mobile app: no cookies
		alice := client.register("alice@example.com", v1pass)

		// The password grant, by email and by a JSON body too.
		requireError(t, client.token(passwordGrant("alice@example.com", "wrong-password")), 401, "invalid_credentials")
		r := client.token(passwordGrant("alice@example.com", v1pass))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		assert.Equal(t, "Bearer", r.Body["token_type"])
		assert.EqualValues(t, auth.DefaultAccessTokenLifetime.Seconds(), r.Body["expires_in"])
		access, refresh := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		j := client.call("POST", "/token", obj{"grant_type": "password", "username": "alice@example.com", "password": v1pass})
		require.Equal(t, http.StatusOK, j.Status, j.Raw)

		// The access token authenticates the API, without a cookie.
		me := svc.bearerClient(t, access).call("GET", "/me", nil)
		require.Equal(t, http.StatusOK, me.Status, me.Raw)
		assert.Equal(t, alice, me.Body["public_id"])
		tampered := access[:len(access)-4] + "AAAA"
		requireError(t, svc.bearerClient(t, tampered).call("GET", "/me", nil), 401, "authentication_required")

		// Another service verifies it offline, with the published keys.
		resp, err := http.Get(svc.URL + "/.well-known/jwks.json")
		require.NoError(t, err)
		jwks, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", jwks)
		assert.Equal(t, "application/jwk-set+json", resp.Header.Get("Content-Type"))
		verifier, err := auth.NewJWKSVerifier(jwks, "credstore", "credstore")
		require.NoError(t, err)
		claims, err := verifier.Verify(access, svc.Clock.Now())
		require.NoError(t, err)
		assert.Equal(t, alice, claims.Subject)
		// And with nothing but the standard library, as a service in
		// another language would: RFC 7517 key, RFC 7515 signature.
		assert.Equal(t, alice, verifyByHand(t, jwks, access, svc.Clock.Now()))

		// Refresh: a new pair, once.
		r = client.token(refreshGrant(refresh))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		access2, refresh2 := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		require.Equal(t, http.StatusOK, svc.bearerClient(t, access2).call("GET", "/me", nil).Status)
		// The old refresh token again: its family (the session) ends, and
		// with it every access token of the session, at once.
		requireError(t, client.token(refreshGrant(refresh)), 400, "invalid_grant")
		requireError(t, svc.bearerClient(t, access2).call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, client.token(refreshGrant(refresh2)), 400, "invalid_grant")

		// Log out with an access token: its session and refresh token end.
		r = client.token(passwordGrant("alice@example.com", v1pass))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		access3, refresh3 := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		out := svc.bearerClient(t, access3).call("DELETE", "/sessions/current", nil)
		require.Equal(t, http.StatusNoContent, out.Status, out.Raw)
		requireError(t, svc.bearerClient(t, access3).call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, client.token(refreshGrant(refresh3)), 400, "invalid_grant")

		// Change the password with an access token: the client gets a new
		// pair, as from POST /token; its old tokens end with every session.
		r = client.token(passwordGrant("alice@example.com", v1pass))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		access4, refresh4 := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		r = client.login("alice@example.com", v1pass, true)
		other := svc.bearerClient(t, r.Body["token"].(string))
		requireError(t, svc.bearerClient(t, access4).call("POST", "/me/password",
			obj{"current_password": "wrong", "new_password": "another-pass-42"}), 401, "invalid_credentials")
		r = svc.bearerClient(t, access4).call("POST", "/me/password", obj{"current_password": v1pass, "new_password": "another-pass-42"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		assert.Equal(t, "Bearer", r.Body["token_type"])
		assert.NotContains(t, r.Body, "token", "not a session token")
		access5, refresh5 := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		requireError(t, svc.bearerClient(t, access4).call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, other.call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, client.token(refreshGrant(refresh4)), 400, "invalid_grant")
		require.Equal(t, http.StatusOK, svc.bearerClient(t, access5).call("GET", "/me", nil).Status)
		r = client.token(refreshGrant(refresh5))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)

		// Malformed requests.
		requireError(t, client.token(url.Values{"grant_type": {"client_credentials"}}), 400, "unsupported_grant_type")
		requireError(t, client.token(url.Values{}), 400, "validation_failed")
		requireError(t, client.token(refreshGrant("not-a-token")), 400, "invalid_grant")

		// A cross-origin browser page cannot use the endpoint.
		browser := svc.api(t)
		browser.header.Set("Origin", "https://evil.example")
		browser.header.Set("Sec-Fetch-Site", "cross-site")
		requireError(t, browser.token(passwordGrant("alice@example.com", v1pass)), 403, "cross_origin")
	})
}

// TestV1TokensSecondFactor: a user with TOTP gets 202 and an mfa_token
// from the password grant, and the tokens from the second-factor grant.
func TestV1TokensSecondFactor(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startTokens(t, dsn, withTOTPKeys)
		c := svc.api(t)
		c.register("bob@example.com", v1pass)
		login := c.login("bob@example.com", v1pass, true)
		require.Equal(t, http.StatusOK, login.Status, login.Raw)
		user := svc.bearerClient(t, login.Body["token"].(string))
		r := user.call("POST", "/me/second-factor/totp", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		p := phone{t: t, svc: svc, secret: r.Body["secret"].(string)}
		require.Equal(t, http.StatusOK, user.call("POST", "/me/second-factor/totp/confirm", obj{"code": p.next(), "password": v1pass}).Status)

		client := svc.api(t)
		client.http.Jar = nil
		r = client.token(passwordGrant("bob@example.com", v1pass))
		require.Equal(t, http.StatusAccepted, r.Status, r.Raw)
		mfa := r.Body["mfa_token"].(string)
		second := url.Values{"grant_type": {authhttp.GrantSecondFactor}, "mfa_token": {mfa}}
		requireError(t, client.token(withCode(second, "000000")), 401, "invalid_credentials")
		r = client.token(withCode(second, p.next()))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		me := svc.bearerClient(t, r.Body["access_token"].(string)).call("GET", "/me", nil)
		require.Equal(t, http.StatusOK, me.Status, me.Raw)
		assert.Equal(t, "bob@example.com", me.Body["email"])
	})
}

func withCode(v url.Values, code string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out.Set("code", code)
	return out
}

// TestV1TokensUnavailable: without a key file the token endpoint and the
// key set answer 503 tokens_unavailable, and logins by session still work.
func TestV1TokensUnavailable(t *testing.T) {
	t.Parallel()
	svc := startTokens(t, testdb.DSN(t, database.SQLite))
	c := svc.api(t)
	c.register("carol@example.com", v1pass)
	requireError(t, c.token(passwordGrant("carol@example.com", v1pass)), 503, "tokens_unavailable")
	resp, err := http.Get(svc.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, http.StatusOK, c.login("carol@example.com", v1pass, false).Status)
}
