package auth_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestLookAlikeAddresses: addresses that are one mailbox, or look like one,
// are one account or refused, identically on both engines (which used to
// disagree: PostgreSQL's lower('İ') is 'i', SQLite's is 'İ').
func TestLookAlikeAddresses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, first, second string
		// field of the *ValidationError of the second, or "" when the
		// second is a duplicate of the first.
		invalid string
	}{
		{"case", "admin@example.com", "ADMIN@Example.COM", ""},
		{"dotted capital I, first", "ED\u0130T@example.com", "edit@example.com", ""},
		{"dotted capital I, second", "admin@example.com", "ADM\u0130N@example.com", ""},
		{"dotless i", "admin@example.com", "adm\u0131n@example.com", ""},
		{"Kelvin sign", "kate@example.com", "\u212Aate@example.com", ""},
		{"fullwidth", "alice@example.com", "\uff41\uff4c\uff49\uff43\uff45@example.com", ""},
		{"NFC and NFD", "jos\u00e9@example.com", "jose\u0301@example.com", ""},
		{"U-label and A-label", "bob@b\u00fccher.example", "bob@xn--bcher-kva.example", ""},
		{"zero-width space", "alice@example.com", "alice\u200b@example.com", "email"},
		{"soft hyphen", "alice@example.com", "ali\u00adce@example.com", "email"},
		{"BOM", "alice@example.com", "\ufeffalice@example.com", "email"},
		{"no-break space", "alice@example.com", "alice\u00a0@example.com", "email"},
		{"C1 control", "alice@example.com", "alice\u0085@example.com", "email"},
		{"right-to-left override", "alice@example.com", "al\u202eice@example.com", "email"},
		{"Cyrillic a in Latin", "alice@example.com", "\u0430lice@example.com", "email"},
		{"Cyrillic in a domain label", "alice@example.com", "alice@ex\u0430mple.com", "email"},
		{"hyphen-led label", "alice@example.com", "alice@-example.com", "email"},
		{"underscore in the domain", "alice@example.com", "alice@exa_mple.com", "email"},
		{"IP literal", "alice@example.com", "alice@[127.0.0.1]", "email"},
	}
	// One database per engine for all the cases: each first address is
	// registered once, by the first case that names it.
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		accounts := map[string]auth.User{}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				first, ok := accounts[tc.first]
				if !ok {
					first = mustRegister(t, s, auth.Registration{Username: fmt.Sprint("first", i), Email: tc.first, Password: pw("first")})
					assert.Equal(t, tc.first, first.Email, "the address is kept as typed")
					accounts[tc.first] = first
				}
				_, err := s.Register(ctx, auth.Registration{Username: fmt.Sprint("second", i), Email: tc.second, Password: pw("second")})
				if tc.invalid != "" {
					requireValidation(t, err, tc.invalid)
					return
				}
				requireDuplicate(t, err, "email")
				// The second spelling names the first account everywhere.
				u, err := s.Login(ctx, tc.second, pw("first"))
				require.NoError(t, err)
				assert.Equal(t, first.ID, u.ID)
				u, err = s.UserByEmail(ctx, tc.second)
				require.NoError(t, err)
				assert.Equal(t, first.ID, u.ID)
				r, err := s.RequestPasswordReset(ctx, tc.second)
				require.NoError(t, err)
				assert.Equal(t, first.ID, r.UserID)
				assert.Equal(t, tc.first, r.Email, "mail goes to the address the account has")
				assert.NoError(t, s.ResetPassword(ctx, tc.second, r.Token, pw("first")))
			})
		}
	})
}
