package identity

import (
	"strings"
	"unicode"

	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// maxLocalLen is the longest local part RFC 5321 allows, in bytes.
const maxLocalLen = 64

// atextSymbols are the ASCII characters other than letters and digits that
// RFC 5322 allows in an atom (atext); '.' separates atoms.
const atextSymbols = "!#$%&'*+-/=?^_`{|}~"

// usernameProfile is the PRECIS UsernameCaseMapped profile of RFC 8265
// (width mapping, lower case, NFC, the Identifier class) less its bidi
// rule, which usernameCaseMapped applies as the RFC says: only to strings
// that hold right-to-left characters. precis.UsernameCaseMapped applies it
// to every non-ASCII string, so it refuses "1josé" and "josé_" (RFC 5893
// wants a left-to-right label to start with a letter and end with a letter
// or digit) while it
// accepts "1jose" and "jose_", which never reach its bidi check
// (golang/go#17383).
var usernameProfile = precis.NewIdentifier(
	precis.FoldWidth,
	precis.LowerCase(),
	precis.Norm(norm.NFC),
)

// canonicalLocal maps the local part with the PRECIS UsernameCaseMapped
// rules, folds the dotted and dotless i, and checks that the result is a
// dot-atom of one script.
func canonicalLocal(s string) (string, error) {
	if s == "" {
		return "", refuse(ErrLocalLength)
	}
	c, err := usernameCaseMapped(s)
	if err != nil {
		return "", err
	}
	if folded := foldDottedI(c); folded != c {
		// Removing a mark can let NFC compose what it could not before;
		// run the profile again so the result is in the form it keeps.
		if c, err = usernameCaseMapped(folded); err != nil {
			return "", err
		}
	}
	if len(c) > maxLocalLen {
		return "", refuse(ErrLocalLength)
	}
	if err := checkDotAtom(c); err != nil {
		return "", err
	}
	if mixesScripts(c) {
		return "", refuse(ErrMixedScripts)
	}
	return c, nil
}

// usernameCaseMapped applies the PRECIS UsernameCaseMapped rules and names
// the rule broken.
func usernameCaseMapped(s string) (string, error) {
	c, err := usernameProfile.String(s)
	if err != nil {
		// A character outside the Identifier class (punctuation or
		// symbols beyond ASCII, compatibility forms such as ligatures
		// and circled letters) or one whose context rule fails.
		return "", refuse(ErrLocalChars)
	}
	if bidirule.DirectionString(c) == bidi.RightToLeft && !bidirule.ValidString(c) {
		return "", refuse(ErrBidi)
	}
	return c, nil
}

// foldDottedI maps the dotless ı to i and removes U+0307 COMBINING DOT
// ABOVE from the combining sequence of every Soft_Dotted letter (i, j, the
// Cyrillic і and ј, ...). Unicode's lower case of the Turkish İ is
// i + U+0307, which displays exactly as i (a soft dot gives way to a mark
// above it); Turkish case rules pair I with ı and İ with i, other languages
// pair I with i. Folding both makes the key independent of the language of
// the case rules, so ADMİN, admın and admin are one account.
func foldDottedI(s string) string {
	if !strings.ContainsAny(s, "\u0131\u0307") {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	softDotted := false // the current combining sequence starts soft-dotted
	for _, r := range d {
		if r == '\u0131' {
			r = 'i'
		}
		if norm.NFD.PropertiesString(string(r)).CCC() == 0 {
			softDotted = unicode.Is(unicode.Soft_Dotted, r)
		} else if r == '\u0307' && softDotted {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// checkDotAtom checks the mapped local part against the dot-atom of
// RFC 5322 as RFC 6531 extends it: atoms of atext (or non-ASCII letters,
// digits and marks) joined by single dots. A combining mark must follow a
// letter or digit, or it would sit on a dot or a symbol, or on the
// character before the local part when displayed.
func checkDotAtom(s string) error {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return refuse(ErrLocalDots)
	}
	base := false // the previous character can carry a combining mark
	for _, r := range s {
		switch {
		case r <= unicode.MaxASCII:
			isAlnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
			if !isAlnum && r != '.' && !strings.ContainsRune(atextSymbols, r) {
				return refuse(ErrLocalChars)
			}
			base = isAlnum
		case unicode.In(r, unicode.Mn, unicode.Mc):
			if !base {
				return refuse(ErrMarkStart)
			}
		case unicode.In(r, unicode.L, unicode.Nd):
			base = true
		default:
			return refuse(ErrLocalChars)
		}
	}
	return nil
}
