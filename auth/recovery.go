package auth

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// recoveryEncoding writes recovery codes in Crockford's base 32: digits and
// upper-case letters without I, L, O and U, so that a code read off paper
// is not misread.
var recoveryEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// recoveryCodeBytes is a recovery code's entropy: 80 bits, 16 characters
// written in four groups ("7Q3F-0KDM-ZA94-XWHC"). 80 bits, not the 50 that
// would do online, so that the stored SHA-256 cannot be reversed by trying
// every code either.
const recoveryCodeBytes = 10

// newRecoveryCodes draws RecoveryCodeCount codes and returns them with the
// hashes the database keeps in their place.
func newRecoveryCodes(random io.Reader) (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := io.ReadFull(random, b); err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		s := recoveryEncoding.EncodeToString(b)
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashRecoveryCode(s))
	}
	return codes, hashes, nil
}

// recoveryCodeHash returns the stored form of a code as a user types it:
// in any case, with or without its dashes and spaces, O for 0 and I or L
// for 1 (Crockford's reading); false when it cannot be a recovery code.
func recoveryCodeHash(code string) (string, bool) {
	var b strings.Builder
	for _, r := range code {
		switch {
		case r == '-' || r == ' ':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch r {
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", r) {
			return "", false
		}
		b.WriteRune(r)
		if b.Len() > 16 {
			return "", false
		}
	}
	if b.Len() != 16 {
		return "", false
	}
	return hashRecoveryCode(b.String()), true
}

func hashRecoveryCode(normal string) string {
	sum := sha256.Sum256([]byte("credstore recovery code v1 " + normal))
	return hex.EncodeToString(sum[:])
}
