package auth

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// newUUIDv7 returns a time-ordered UUID (RFC 9562, version 7) built from the
// store's clock and randomness, so ids sort by creation time and tests can
// make them deterministic.
func newUUIDv7(now time.Time, random io.Reader) (string, error) {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(now.UnixMilli())<<16)
	if _, err := io.ReadFull(random, u[6:]); err != nil {
		return "", fmt.Errorf("uuid: %w", err)
	}
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:]), nil
}

// canonicalPublicID returns a public id in the form the store writes (lower
// case, hyphenated), or false when s is not a UUID in that layout. Any case
// is accepted, as RFC 9562 says UUIDs compare case-insensitively.
func canonicalPublicID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}
