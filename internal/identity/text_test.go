package identity_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/credstore/credstore/internal/identity"
)

func TestText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		rule *identity.Error // nil: accepted
	}{
		{"empty", "", nil},
		{"ASCII", "alice", nil},
		{"non-ASCII", "jos\u00e9 \u7528\u6237", nil},
		{"controls other than NUL", "a\tb\n\u0085", nil},
		{"invalid byte", "bob\xff", identity.ErrInvalidUTF8},
		{"truncated sequence", "bob\xc3", identity.ErrInvalidUTF8},
		{"surrogate", "\xed\xa0\x80", identity.ErrInvalidUTF8},
		{"overlong encoding", "\xc0\xaf", identity.ErrInvalidUTF8},
		{"NUL", "bob\x00", identity.ErrNUL},
		{"NUL alone", "\x00", identity.ErrNUL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := identity.Text(tc.in)
			if tc.rule == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.rule)
			assert.ErrorIs(t, err, identity.ErrInvalid)
		})
	}
}
