package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// tokenBytes is the entropy of every session and reset token: 256 bits, so
// guessing a live token is hopeless however many exist.
const tokenBytes = 32

// tokenEncoding writes a token as 43 URL- and cookie-safe characters. Strict
// decoding refuses the non-canonical spellings of the last character, so
// one token has exactly one string.
var tokenEncoding = base64.RawURLEncoding.Strict()

// newToken draws a token from random and returns it with the hash the
// database stores in its place.
func newToken(random io.Reader) (token, hash string, err error) {
	var b [tokenBytes]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	return tokenEncoding.EncodeToString(b[:]), hashTokenBytes(b[:]), nil
}

// tokenHash returns the stored form of token, or false when token is not
// something newToken could have made. Rejecting malformed input here keeps
// garbage out of the database queries.
func tokenHash(token string) (string, bool) {
	sum, ok := tokenSum(token)
	if !ok {
		return "", false
	}
	return hex.EncodeToString(sum[:]), true
}

// tokenSum is tokenHash before its hex encoding, which it spares a lookup
// that the session cache answers.
func tokenSum(token string) (sum [sha256.Size]byte, ok bool) {
	var src [64]byte // a token's bytes, copied without an allocation
	if len(token) != tokenEncoding.EncodedLen(tokenBytes) || len(token) > len(src) {
		return sum, false
	}
	var b [tokenBytes]byte
	n, err := tokenEncoding.Decode(b[:], src[:copy(src[:], token)])
	if err != nil || n != tokenBytes {
		return sum, false
	}
	return sha256.Sum256(b[:]), true
}

// hashTokenBytes is the lower-case hex SHA-256 of a token's bytes. A fast
// hash is right here (unlike for passwords): the token has 256 bits of
// entropy, so there is no dictionary to try against a stolen hash.
func hashTokenBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
