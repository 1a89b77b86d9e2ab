package identity_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/credstore/credstore/internal/identity"
)

// TestEmailEveryCodePoint puts code points in every position the rules
// treat differently (alone, after ASCII, after an accented letter, before a
// U+0307 that may be folded, after a Hebrew letter, in a domain label) and
// checks the canonical form of each accepted address: one '@', and its own
// canonical form. Every code point up to U+33FF is tried, and one in 61
// beyond, where Han and Hangul take most of the space; -short skips it.
func TestEmailEveryCodePoint(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sweeps Unicode")
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r > 0x33ff {
			r += 60
		}
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		for _, in := range []string{
			s + "@example.com",
			"a" + s + "@example.com",
			"\u00e9" + s + "@example.com",
			"i" + s + "\u0307@example.com",
			"\u05d0" + s + "@example.com",
			"x@" + s + ".com",
			"x@a" + s + ".com",
		} {
			got, err := identity.Email(in)
			if err != nil {
				continue
			}
			again, err := identity.Email(got)
			if !assert.NoError(t, err, "%+q gives %+q", in, got) ||
				!assert.Equal(t, got, again, "%+q", in) ||
				!assert.Equal(t, 1, strings.Count(got, "@"), "%+q gives %+q", in, got) {
				return
			}
		}
	}
}
