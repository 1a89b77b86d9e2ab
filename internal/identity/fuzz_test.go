package identity_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/identity"
)

// FuzzEmail checks what Email promises for any input: no panic, an *Error
// that does not repeat the input when it refuses, and when it accepts a
// canonical form that is valid UTF-8, fits SMTP, has one '@' before a
// lower-case ASCII domain, and is its own canonical form.
func FuzzEmail(f *testing.F) {
	for _, tc := range refusedCases {
		f.Add(tc.in)
	}
	for _, tc := range acceptedCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := identity.Email(in)
		if err != nil {
			var e *identity.Error
			require.ErrorAs(t, err, &e)
			assert.Empty(t, got)
			assert.NotEmpty(t, e.Reason)
			if len(in) > 3 {
				assert.NotContains(t, e.Error(), in)
			}
			return
		}
		require.True(t, utf8.ValidString(got), "canonical %+q of %+q is not UTF-8", got, in)
		require.LessOrEqual(t, len(got), identity.MaxEmailLen)
		require.Equal(t, 1, strings.Count(got, "@"), "canonical %+q of %+q", got, in)
		domain := got[strings.IndexByte(got, '@')+1:]
		for i := 0; i < len(domain); i++ {
			c := domain[i]
			require.True(t, 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.',
				"domain %+q of %+q is not lower-case ASCII", domain, in)
		}
		again, err := identity.Email(got)
		require.NoError(t, err, "canonical %+q of %+q is refused", got, in)
		require.Equal(t, got, again, "canonical of %+q is not its own canonical form", in)
	})
}

// FuzzText checks that Text accepts exactly the valid UTF-8 without NUL.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "alice", "bob\xff", "bob\x00", "\u00e9", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		err := identity.Text(in)
		want := utf8.ValidString(in) && !strings.ContainsRune(in, 0)
		assert.Equal(t, want, err == nil, "%+q: %v", in, err)
	})
}
