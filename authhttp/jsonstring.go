package authhttp

import (
	"bytes"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

var errNotJSONString = errors.New("not a JSON string")

// unquoteJSON decodes a JSON string literal, quotes included, exactly as
// encoding/json does except for what encoding/json silently replaces with
// U+FFFD, which it keeps recognisably invalid instead:
//
//   - bytes that are not UTF-8 are copied as they are;
//   - an escaped surrogate that is not half of a pair ("\ud800" alone, or
//     followed by anything but an escaped low surrogate) becomes its
//     three-byte generalized UTF-8 (WTF-8) encoding, which is not valid
//     UTF-8 either.
//
// So a JSON field carries the very bytes the same value sent in a form
// would, and auth refuses both alike ("must be valid UTF-8"), where
// encoding/json would have turned them into a valid password of replacement
// characters that other invalid inputs also map to.
//
// lit must be a literal encoding/json has already accepted; anything else is
// refused with an error, never a panic.
func unquoteJSON(lit []byte) (string, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", errNotJSONString
	}
	s := lit[1 : len(lit)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		if bytes.IndexByte(s, '"') >= 0 || bytes.IndexFunc(s, func(r rune) bool { return r < ' ' }) >= 0 {
			return "", errNotJSONString
		}
		return string(s), nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c < ' ':
			return "", errNotJSONString
		case c != '\\':
			out = append(out, c)
			i++
			continue
		case i+1 == len(s):
			return "", errNotJSONString
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return "", errNotJSONString
			}
			i += 6
			if !utf16.IsSurrogate(r) {
				out = utf8.AppendRune(out, r)
				continue
			}
			if r < 0xdc00 && len(s) >= i+6 && s[i] == '\\' && s[i+1] == 'u' {
				if r2, ok := hex4(s[i+2:]); ok && 0xdc00 <= r2 && r2 <= 0xdfff {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, r2))
					i += 6
					continue
				}
			}
			out = appendWTF8(out, r)
			continue
		default:
			return "", errNotJSONString
		}
		i += 2
	}
	return string(out), nil
}

// hex4 reads the four hex digits of a \u escape.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendWTF8 appends the three-byte encoding of a surrogate code point,
// which utf8.AppendRune would replace with U+FFFD: ED A0..BF 80..BF, bytes
// that utf8.Valid rejects.
func appendWTF8(b []byte, r rune) []byte {
	return append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
}
