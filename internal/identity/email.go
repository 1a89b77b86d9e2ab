package identity

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// MaxEmailLen is the longest address SMTP can carry (RFC 5321, a 256-byte
// path less its angle brackets), as typed and as canonical.
const MaxEmailLen = 254

// Email checks s as an email address and returns its canonical form: the
// key two addresses are the same account by. s itself (as typed) is kept by
// callers for display and mail.
//
// The rules are those of the package documentation. The canonical form is
// itself accepted and is its own canonical form, so
// Email(Email(s)) == Email(s) for every accepted s.
//
// The error is nil or an *Error whose Reason names the first rule s breaks;
// it matches ErrInvalid and that rule's sentinel (ErrMixedScripts, ...).
func Email(s string) (canonical string, err error) {
	if err := Text(s); err != nil {
		return "", err
	}
	if s == "" {
		return "", refuse(ErrEmpty)
	}
	// Bound the work before any mapping: nothing longer can be mailed.
	if len(s) > MaxEmailLen {
		return "", refuse(ErrTooLong)
	}
	if err := checkRunes(s); err != nil {
		return "", err
	}
	// Width mapping first, so that a fullwidth '＠' or '＂' is found
	// by the structural checks below; the local-part and domain profiles
	// map width again, which changes nothing then.
	m := width.Fold.String(s)
	if strings.ContainsAny(m, `"<>()`) {
		return "", refuse(ErrNotBare)
	}
	if strings.IndexFunc(m, isSpace) >= 0 {
		return "", refuse(ErrSpace)
	}
	// One '@' after width mapping, and typed as '@': the address as typed
	// is what mail goes to and what the database stores (its CHECK wants
	// an '@'), so a fullwidth '＠' or a small '﹫' standing in for it is
	// refused, not folded into syntax.
	if strings.Count(m, "@") != 1 || strings.Count(s, "@") != 1 {
		return "", refuse(ErrAt)
	}
	at := strings.LastIndexByte(m, '@')
	local, err := canonicalLocal(m[:at])
	if err != nil {
		return "", err
	}
	domain, err := canonicalDomain(m[at+1:])
	if err != nil {
		return "", err
	}
	canonical = local + "@" + domain
	if len(canonical) > MaxEmailLen {
		return "", refuse(ErrTooLong)
	}
	return canonical, nil
}

// checkRunes refuses the characters no part of an address may hold, in the
// string as typed, before any mapping could hide them: controls (Cc),
// format characters (Cf: zero-width space, soft hyphen, BOM, joiners, bidi
// controls), surrogates (Cs), private use (Co) and unassigned code points
// (Cn, which includes the noncharacters). White space is refused after
// width mapping, by Email, so that a display name is reported as such.
func checkRunes(s string) error {
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Cc, unicode.Cf):
			return refuse(ErrInvisible)
		case unicode.In(r, unicode.Co, unicode.Cs) || !assigned(r):
			return refuse(ErrUnassigned)
		}
	}
	return nil
}

// assigned reports whether r has a general category other than Cn in the
// Unicode version of the standard library. It lists the categories one by
// one because the standard library's unicode.C holds the unassigned code
// points too.
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// isSpace reports White_Space characters (which include U+0085 and U+00A0)
// and every space separator (Zs, Zl, Zp).
func isSpace(r rune) bool {
	return unicode.In(r, unicode.White_Space, unicode.Z)
}
