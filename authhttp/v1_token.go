package authhttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/credstore/credstore/auth"
)

// The grant types of POST /token (RFC 6749 §4.3, §6, and an extension grant
// of §4.5 for the second step of a login with a second factor).
const (
	GrantPassword     = "password"
	GrantRefreshToken = "refresh_token"
	// GrantSecondFactor completes a password grant that was answered 202
	// second_factor_required: mfa_token and a code or a recovery_code.
	GrantSecondFactor = "urn:credstore:params:oauth:grant-type:second-factor"
)

// Errors of POST /token and GET /.well-known/jwks.json.
var (
	errUnsupportedGrantType = errors.New("unsupported grant_type: want password, refresh_token or " + GrantSecondFactor)
	// errTokensUnavailable: the server has no key file, so it can neither
	// sign access tokens nor keep their keys.
	errTokensUnavailable = errors.New("tokens are not configured on this server")
)

// v1Token is the token endpoint, POST /token: the OAuth 2.0 password and
// refresh-token grants (RFC 6749 §4.3 and §6), answered in the shape of
// §5.1 with Cache-Control: no-store. It takes an
// application/x-www-form-urlencoded body, as OAuth clients send it, or a
// JSON object of the same fields. A user with a second factor is answered
// 202 with an mfa_token, to send back with grant_type GrantSecondFactor
// and a code or a recovery_code. Errors are in the API's one shape, with
// the codes invalid_grant (a refresh token unknown, expired, or already
// used, which ends its session), unsupported_grant_type, and those of a
// login.
func (h *Handler) v1Token(w http.ResponseWriter, r *http.Request, f form) error {
	var (
		res auth.TokenResult
		err error
	)
	switch f.str("grant_type") {
	case GrantPassword:
		res, err = h.store.IssueTokens(r.Context(), auth.LoginAttempt{
			Identifier: f.str("username"), Password: f.str("password"), DeviceToken: deviceToken(r),
		})
		var mfa *auth.SecondFactorRequiredError
		if errors.As(err, &mfa) {
			noStore(w)
			writeJSON(w, http.StatusAccepted, v1SecondFactorRequired{true, mfa.Challenge, mfa.ExpiresAt})
			return nil
		}
	case GrantSecondFactor:
		res, err = h.store.CompleteTokenLogin(r.Context(), auth.SecondFactor{
			Challenge: f.str("mfa_token"), Code: f.str("code"), RecoveryCode: f.str("recovery_code"), DeviceToken: deviceToken(r),
		})
		err = refusedAs(errCodeRefused, err)
	case GrantRefreshToken:
		res, err = h.store.RefreshTokens(r.Context(), f.str("refresh_token"))
	case "":
		err = &auth.ValidationError{Fields: map[string]string{"grant_type": "is required"}}
	default:
		err = errUnsupportedGrantType
	}
	if errors.Is(err, auth.ErrNoSecretKey) {
		err = errTokensUnavailable
	}
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// noStore marks a reply that carries tokens as never to be cached (RFC 6749
// §5.1).
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// JWKS returns the handler of GET /.well-known/jwks.json: the JWK Set
// (RFC 7517) of the public keys that verify the API's access tokens, for
// another service to verify them offline (auth.NewJWKSVerifier, or any
// JOSE library that allows EdDSA). Mount it at that path of the service's
// origin:
//
//	mux.Handle("GET /.well-known/jwks.json", h.JWKS())
//
// Caches may keep the set a minute: a new key signs as soon as it is
// made, so a verifier that meets a kid it does not know fetches the set
// again. Without a key file it answers 503 tokens_unavailable.
func (h *Handler) JWKS() http.Handler {
	return h.withClient(h.accessLog(h.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.writeV1Error(w, r, errMethodNotAllowed)
			return
		}
		set, err := h.store.JWKS(r.Context())
		if errors.Is(err, auth.ErrNoSecretKey) {
			err = errTokensUnavailable
		}
		if err != nil {
			h.writeV1Error(w, r, err)
			return
		}
		body, err := json.Marshal(set)
		if err != nil {
			h.writeV1Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}))))
}

// looksLikeJWT tells an access token (a JWS in compact form: three
// base64url parts) from a session token, which has no dot.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}
