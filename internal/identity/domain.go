package identity

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Limits of a host name in its ASCII form (RFC 1035, RFC 5321).
const (
	maxDomainLen = 253
	maxLabelLen  = 63
)

// domainProfile maps a domain as UTS #46 does for look-up (case, width and
// compatibility mapping, NFC, nontransitional so that ß and ς stay
// themselves) and then applies the IDNA2008 rules for registration-grade
// names: STD3 (letters, digits and hyphens only), no hyphen at either end
// or in the third and fourth place of a label, the CONTEXTJ rules for the
// joiners, and the bidi rule. Labels given as xn-- are decoded and checked
// the same way, and an xn-- label that decodes to ASCII is refused. Empty
// labels and lengths are left to canonicalDomain, which names the rule.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.BidiRule(),
	idna.VerifyDNSLength(false),
)

// canonicalDomain returns the ASCII form (A-labels, lower case) of the
// width-mapped domain s, refusing anything that is not a host name of at
// least two labels with a top-level label that is not all digits, and any
// label whose Unicode form mixes scripts.
func canonicalDomain(s string) (string, error) {
	if strings.HasPrefix(s, "[") {
		return "", refuse(ErrIPLiteral)
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", refuse(ErrIPLiteral)
	}
	a, err := domainProfile.ToASCII(s)
	if err != nil {
		return "", refuse(ErrDomain)
	}
	if len(a) > maxDomainLen {
		return "", refuse(ErrDomainLength)
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", refuse(ErrDomain)
	}
	for _, l := range labels {
		switch {
		case l == "": // a leading, trailing (root) or doubled dot
			return "", refuse(ErrDomain)
		case len(l) > maxLabelLen:
			return "", refuse(ErrDomainLength)
		case !isLDH(l):
			return "", refuse(ErrDomain)
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return "", refuse(ErrDomain)
	}
	// The script check needs the Unicode form of every label, those typed
	// as xn-- included.
	u, err := domainProfile.ToUnicode(a)
	if err != nil {
		return "", refuse(ErrDomain)
	}
	for l := range strings.SplitSeq(u, ".") {
		if mixesScripts(l) {
			return "", refuse(ErrMixedScripts)
		}
	}
	return a, nil
}

// isLDH reports whether s is lower-case letters, digits and hyphens only:
// what the profile's STD3 rules and case mapping promise, checked again
// because the key must be plain ASCII whatever a later version maps.
func isLDH(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
