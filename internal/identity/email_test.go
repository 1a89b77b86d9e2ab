package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/identity"
)

// refusedCases are addresses Email must refuse, with the rule each breaks.
var refusedCases = []struct {
	name string
	in   string
	rule *identity.Error
}{
	// Invisible and control characters, as typed.
	{"zero-width space", "alice\u200b@example.com", identity.ErrInvisible},
	{"soft hyphen", "al\u00adice@example.com", identity.ErrInvisible},
	{"byte order mark", "\ufeffalice@example.com", identity.ErrInvisible},
	{"zero-width joiner", "ali\u200dce@example.com", identity.ErrInvisible},
	{"left-to-right mark", "alice\u200e@example.com", identity.ErrInvisible},
	{"right-to-left override", "alice\u202e@example.com", identity.ErrInvisible},
	{"right-to-left isolate", "\u2067alice@example.com", identity.ErrInvisible},
	{"C1 control NEL", "alice\u0085@example.com", identity.ErrInvisible},
	{"tab", "alice\t@example.com", identity.ErrInvisible},
	{"newline", "alice@example.com\n", identity.ErrInvisible},
	{"soft hyphen in domain", "bob@b\u00fc\u00adcher.example", identity.ErrInvisible},
	{"zero-width space in domain", "bob@exam\u200bple.com", identity.ErrInvisible},
	{"private use", "alice\ue000@example.com", identity.ErrUnassigned},
	{"unassigned", "alice\u0378@example.com", identity.ErrUnassigned},
	{"noncharacter", "alice\ufffe@example.com", identity.ErrUnassigned},

	// White space.
	{"space", "al ice@example.com", identity.ErrSpace},
	{"no-break space", "alice\u00a0@example.com", identity.ErrSpace},
	{"ideographic space", "alice\u3000@example.com", identity.ErrSpace},
	{"narrow no-break space", "alice@example\u202f.com", identity.ErrSpace},
	{"leading space", " alice@example.com", identity.ErrSpace},

	// Not a bare address.
	{"quoted local part", `"a b"@example.com`, identity.ErrNotBare},
	{"quoted without space", `"ab"@example.com`, identity.ErrNotBare},
	{"display name", "Alice <a@example.com>", identity.ErrNotBare},
	{"angle brackets", "<a@example.com>", identity.ErrNotBare},
	{"comment", "a(comment)@example.com", identity.ErrNotBare},
	{"fullwidth quotes", "\uff02ab\uff02@example.com", identity.ErrNotBare},

	// The '@'.
	{"no at", "alice.example.com", identity.ErrAt},
	{"two ats", "a@b@c.com", identity.ErrAt},
	{"fullwidth second at", "a\uff20b@c.com", identity.ErrAt},
	{"fullwidth at alone", "zed\uff20example.com", identity.ErrAt},
	{"small commercial at alone", "zed\ufe6bexample.com", identity.ErrAt},
	{"fullwidth at and dots", "\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", identity.ErrAt},

	// The local part.
	{"empty local part", "@example.com", identity.ErrLocalLength},
	{"local part 65 bytes", strings.Repeat("a", 65) + "@example.com", identity.ErrLocalLength},
	{"local part 65 bytes after mapping", strings.Repeat("a", 62) + "\u023a@example.com", identity.ErrLocalLength},
	{"double dot", "a..b@example.com", identity.ErrLocalDots},
	{"leading dot", ".a@example.com", identity.ErrLocalDots},
	{"trailing dot", "a.@example.com", identity.ErrLocalDots},
	{"fullwidth double dot", "a\uff0e\uff0eb@example.com", identity.ErrLocalDots},
	{"comma", "a,b@example.com", identity.ErrLocalChars},
	{"backslash", `a\b@example.com`, identity.ErrLocalChars},
	{"brackets", "a[b]@example.com", identity.ErrLocalChars},
	{"non-ASCII punctuation", "a\u00bfb@example.com", identity.ErrLocalChars},
	{"symbol", "a\u2665@example.com", identity.ErrLocalChars},
	{"ligature", "\ufb01le@example.com", identity.ErrLocalChars},
	{"circled letter", "\u24d0lice@example.com", identity.ErrLocalChars},
	{"mathematical bold letter", "\U0001d41alice@example.com", identity.ErrLocalChars},
	{"leading combining mark", "\u0301alice@example.com", identity.ErrMarkStart},
	{"combining mark on a dot", "a.\u0301b@example.com", identity.ErrMarkStart},
	{"Hebrew then Latin", "\u05e9\u05dc\u05d5\u05ddabc@example.com", identity.ErrBidi},
	{"digit before Hebrew", "1\u05e9\u05dc\u05d5\u05dd@example.com", identity.ErrBidi},
	{"Hebrew then dot", "\u05e9\u05dc.\u05d5\u05dd_@example.com", identity.ErrBidi},
	{"Hebrew label in domain with a digit first", "a@1\u05e9\u05dc\u05d5\u05dd.example", identity.ErrDomain},
	{"Cyrillic a mixed into Latin", "\u0430lice@example.com", identity.ErrMixedScripts},
	{"Greek omicron mixed into Latin", "b\u03bfb@example.com", identity.ErrMixedScripts},
	{"Latin with Hangul and Hiragana", "a\uac00\u3042@example.com", identity.ErrMixedScripts},

	// The domain.
	{"leading hyphen", "a@-example.com", identity.ErrDomain},
	{"trailing hyphen", "a@example-.com", identity.ErrDomain},
	{"hyphens in third and fourth place", "a@ab--cd.com", identity.ErrDomain},
	{"underscore", "a@exa_mple.com", identity.ErrDomain},
	{"one label", "a@localhost", identity.ErrDomain},
	{"numeric top-level label", "a@example.123", identity.ErrDomain},
	{"empty domain", "a@", identity.ErrDomain},
	{"empty label", "a@example..com", identity.ErrDomain},
	{"leading dot in domain", "a@.example.com", identity.ErrDomain},
	{"trailing dot in domain", "a@example.com.", identity.ErrDomain},
	{"fake A-label", "a@xn--abc.com", identity.ErrDomain},
	{"invalid punycode", "a@xn--.com", identity.ErrDomain},
	{"A-label of ASCII", "a@xn--example-.com", identity.ErrDomain},
	{"symbol in domain", "a@exa$mple.com", identity.ErrDomain},
	{"domain label 64 bytes", "a@" + strings.Repeat("b", 64) + ".com", identity.ErrDomainLength},
	{"IPv4 literal", "alice@[127.0.0.1]", identity.ErrIPLiteral},
	{"IPv6 literal", "alice@[IPv6:::1]", identity.ErrIPLiteral},
	{"bare IPv4", "alice@127.0.0.1", identity.ErrIPLiteral},
	{"Cyrillic a mixed into a Latin label", "bob@ex\u0430mple.com", identity.ErrMixedScripts},
	{"mixed label typed as A-label", "bob@xn--exmple-4nf.com", identity.ErrMixedScripts},

	// Bytes and length.
	{"empty", "", identity.ErrEmpty},
	{"invalid UTF-8", "bob\xff@example.com", identity.ErrInvalidUTF8},
	{"lone surrogate bytes", "bob\xed\xa0\x80@example.com", identity.ErrInvalidUTF8},
	{"NUL", "bob\x00@example.com", identity.ErrNUL},
	{"255 bytes", "a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 57) + ".com", identity.ErrTooLong},
	{"canonical over 254 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("\u00fc", 30) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".com", identity.ErrTooLong},
}

func TestEmailRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range refusedCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.Email(tc.in)
			require.Error(t, err)
			assert.Empty(t, got)
			assert.ErrorIs(t, err, tc.rule, "reason: %v", err)
			assert.ErrorIs(t, err, identity.ErrInvalid)
			var e *identity.Error
			require.ErrorAs(t, err, &e)
			assert.NotSame(t, tc.rule, e, "a sentinel must never be returned itself")
			if tc.in != "" {
				assert.NotContains(t, e.Error(), tc.in)
				for _, part := range strings.FieldsFunc(tc.in, func(r rune) bool { return r == '@' || r == '.' }) {
					if len(part) > 3 {
						assert.NotContains(t, e.Error(), part, "the message must not repeat the input")
					}
				}
			}
		})
	}
}

// acceptedCases are addresses Email must accept, with their canonical form.
var acceptedCases = []struct {
	name, in, want string
}{
	{"plain", "alice@example.com", "alice@example.com"},
	{"case and tag", "Alice.Smith+tag@Example.COM", "alice.smith+tag@example.com"},
	{"apostrophe", "o'brien@example.ie", "o'brien@example.ie"},
	{"every atext symbol", "a!#$%&'*+-/=?^_`{|}~z@example.com", "a!#$%&'*+-/=?^_`{|}~z@example.com"},
	{"digits and dots", "1.2.3@example.com", "1.2.3@example.com"},
	{"subdomain", "a@mail.EXAMPLE.co.uk", "a@mail.example.co.uk"},
	{"hyphenated domain", "a@my-example.com", "a@my-example.com"},
	{"numeric label not last", "a@123.example.com", "a@123.example.com"},
	{"accented NFC", "jos\u00e9@example.com", "jos\u00e9@example.com"},
	{"accented NFD", "jose\u0301@example.com", "jos\u00e9@example.com"},
	{"Han", "用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"},
	{"Greek", "θσερ@παράδειγμα.δοκιμή", "θσερ@xn--hxajbheg2az3al.xn--jxalpdlp"},
	{"Greek upper case", "ΘΣΕΡ@ΠΑΡΆΔΕΙΓΜΑ.ΔΟΚΙΜΉ", "θσερ@xn--hxajbheg2az3al.xn--jxalpdlp"},
	{"all Cyrillic", "\u0430\u043b\u0438\u0441\u0430@example.com", "\u0430\u043b\u0438\u0441\u0430@example.com"},
	{"Latin and Han", "alice用户@example.com", "alice用户@example.com"},
	{"Latin, Han, Hiragana and Katakana", "aあア漢@example.jp", "aあア漢@example.jp"},
	{"Latin and Hangul", "kim\uac00@example.kr", "kim\uac00@example.kr"},
	{"Hebrew", "\u05e9\u05dc\u05d5\u05dd@example.com", "\u05e9\u05dc\u05d5\u05dd@example.com"},
	{"Hebrew with a digit last", "\u05e9\u05dc\u05d5\u05dd1@example.com", "\u05e9\u05dc\u05d5\u05dd1@example.com"},
	{"digit before accented letter", "1jos\u00e9@example.com", "1jos\u00e9@example.com"},
	{"symbols around accented letter", "_jos\u00e9+@example.com", "_jos\u00e9+@example.com"},
	{"U-label domain", "bob@b\u00fccher.example", "bob@xn--bcher-kva.example"},
	{"upper-case U-label domain", "bob@B\u00dcCHER.example", "bob@xn--bcher-kva.example"},
	{"A-label domain", "bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"},
	{"upper-case A-label domain", "bob@XN--BCHER-KVA.EXAMPLE", "bob@xn--bcher-kva.example"},
	{"NFD U-label domain", "bob@bu\u0308cher.example", "bob@xn--bcher-kva.example"},
	{"fullwidth", "\uff41\uff4c\uff49\uff43\uff45@example.com", "alice@example.com"},
	{"fullwidth dots", "\uff41@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", "a@example.com"},
	{"ideographic full stop in domain", "a@example\u3002com", "a@example.com"},
	{"Turkish dotted capital I", "ADM\u0130N@example.com", "admin@example.com"},
	{"dotless i", "adm\u0131n@example.com", "admin@example.com"},
	{"i with combining dot above", "admi\u0307n@example.com", "admin@example.com"},
	{"I with combining dot above", "ADMI\u0307N@example.com", "admin@example.com"},
	{"i with dot below and dot above", "i\u0323\u0307@example.com", "\u1ecb@example.com"},
	{"i with dot above and acute", "i\u0307\u0301@example.com", "\u00ed@example.com"},
	{"Kelvin sign", "\u212aelvin@example.com", "kelvin@example.com"},
	{"compatibility letter in domain", "a@\u212fxample.com", "a@example.com"},
	{"Kelvin sign in domain", "kelvin@\u212aelvin.example", "kelvin@kelvin.example"},
	{"Angstrom sign", "\u212bngstr\u00f6m@example.se", "\u00e5ngstr\u00f6m@example.se"},
	{"sharp s kept", "stra\u00dfe@example.de", "stra\u00dfe@example.de"},
	{"local part 64 bytes", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	{"254 bytes", "a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 56) + ".com", "a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 56) + ".com"},
}

func TestEmailAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range acceptedCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.Email(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := identity.Email(got)
			require.NoError(t, err, "the canonical form must be accepted")
			assert.Equal(t, got, again, "the canonical form must be its own")
		})
	}
}

// TestEmailSameAccount lists look-alike spellings that must collapse to
// one account.
func TestEmailSameAccount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []string
	}{
		{"width", []string{"alice@example.com", "\uff41\uff4c\uff49\uff43\uff45@example.com", "ALICE@EXAMPLE.COM"}},
		{"normalization", []string{"jos\u00e9@example.com", "jose\u0301@example.com", "JOS\u00c9@example.com", "JOSE\u0301@example.com"}},
		{"IDN", []string{"bob@b\u00fccher.example", "bob@B\u00dcCHER.example", "bob@xn--bcher-kva.example", "bob@bu\u0308cher.example"}},
		{"Turkish i", []string{"admin@example.com", "ADM\u0130N@example.com", "adm\u0131n@example.com", "admi\u0307n@example.com", "ADMIN@example.com"}},
		{"Kelvin sign", []string{"kelvin@example.com", "\u212aelvin@example.com", "KELVIN@example.com"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, err := identity.Email(tc.in[0])
			require.NoError(t, err)
			for _, in := range tc.in[1:] {
				got, err := identity.Email(in)
				require.NoError(t, err, "%+q", in)
				assert.Equal(t, want, got, "%+q", in)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	_, err := identity.Email("\u0430lice@example.com")
	assert.ErrorIs(t, err, identity.ErrMixedScripts)
	assert.ErrorIs(t, err, &identity.Error{Reason: identity.ErrMixedScripts.Reason}, "rules compare by reason")
	assert.NotErrorIs(t, err, identity.ErrDomain)
	assert.NotErrorIs(t, err, errors.New(identity.ErrMixedScripts.Error()))
	assert.Equal(t, "identity: must not mix scripts", err.Error())
}
