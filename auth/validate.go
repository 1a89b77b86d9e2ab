package auth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credstore/credstore/internal/identity"
)

// Field names used in ValidationError.Fields and DuplicateError.Field.
const (
	FieldUsername    = "username"
	FieldEmail       = "email"
	FieldPhone       = "phone"
	FieldPassword    = "password"
	FieldNewPassword = "new_password"
	// FieldCurrentPassword is the current password given to ChangePassword.
	FieldCurrentPassword = "current_password"
)

// maxEmailLen is the longest address SMTP can carry (RFC 5321), as
// internal/identity enforces it.
const maxEmailLen = identity.MaxEmailLen

// e164 is a phone number in E.164: '+', a country code that does not start
// with 0, and 7 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// problems collects what is wrong with an input, by field.
type problems map[string]string

func (p problems) add(field, msg string) {
	if _, ok := p[field]; !ok {
		p[field] = msg
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Fields: p}
}

// checkUsername validates a username that is present.
func (p *Policy) checkUsername(probs problems, s string) {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		probs.add(FieldUsername, "must be valid UTF-8")
	case strings.ContainsRune(s, ' '):
		probs.add(FieldUsername, "must not contain spaces")
	case strings.ContainsRune(s, '@'):
		probs.add(FieldUsername, "must not contain '@'")
	case strings.IndexFunc(s, func(r rune) bool { return r < '!' || r > '~' }) >= 0:
		probs.add(FieldUsername, "must contain only printable ASCII characters")
	case n < p.UsernameMinLen || n > p.UsernameMaxLen:
		probs.add(FieldUsername, fmt.Sprintf("must be %d to %d characters long", p.UsernameMinLen, p.UsernameMaxLen))
	case p.UsernamePattern != nil && !p.UsernamePattern.MatchString(s):
		probs.add(FieldUsername, p.UsernameRule)
	}
}

// checkEmail validates an email address that is present and returns its
// canonical form (internal/identity), the key that decides which account an
// address is: one address without a display name, angle brackets or
// surrounding space, no invisible, control or mixed-script characters, and a
// domain that is a host name.
func checkEmail(probs problems, s string) string {
	if s == "" {
		probs.add(FieldEmail, "is required")
		return ""
	}
	if len(s) > maxEmailLen {
		probs.add(FieldEmail, fmt.Sprintf("must be at most %d bytes long", maxEmailLen))
		return ""
	}
	canonical, err := identity.Email(s)
	if err != nil {
		msg := "must be a single email address such as name@example.com"
		var ie *identity.Error
		if errors.As(err, &ie) {
			msg += ": " + ie.Reason
		}
		probs.add(FieldEmail, msg)
		return ""
	}
	return canonical
}

// CheckEmail reports whether s is an email address an account could have,
// by the rule Register applies, without looking at the database: a
// *ValidationError for "email" when it is not. A caller that does the
// rest of its work later (authhttp answers a reset request before issuing
// it) refuses malformed input at once with it.
func CheckEmail(s string) error {
	probs := problems{}
	checkEmail(probs, s)
	return probs.err()
}

// canonicalEmail is the canonical form of an address to look up, or false
// for input that no account can have: nothing that fails here reaches SQL.
func canonicalEmail(s string) (string, bool) {
	c, err := identity.Email(s) // refuses "" and over-long input first
	return c, err == nil
}

// lookupUsername reports whether s can be a stored username at all (the
// shape users_username_check enforces, whatever the policy), so that bytes
// no username has, invalid UTF-8 and NUL among them, never reach SQL.
func lookupUsername(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == '@' {
			return false
		}
	}
	return true
}

// checkPhone validates a phone number that is present.
func checkPhone(probs problems, s string) {
	if !e164.MatchString(s) {
		probs.add(FieldPhone, "must be in E.164 format: '+', the country code and number, 8 to 16 characters, digits only")
	}
}

// checkPassword validates a new password under field.
func (p *Policy) checkPassword(probs problems, field, s string) {
	switch {
	case s == "":
		probs.add(field, "is required")
		return
	case len(s) > MaxPasswordBytes:
		probs.add(field, fmt.Sprintf("must be at most %d bytes long", MaxPasswordBytes))
		return
	case !utf8.ValidString(s):
		probs.add(field, "must be valid UTF-8")
		return
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		// NUL above all: bcrypt repeats the password with a NUL between
		// copies, so "abcd\x00abcd" would match "abcd".
		probs.add(field, "must not contain control characters")
		return
	case utf8.RuneCountInString(s) < p.PasswordMinLen:
		probs.add(field, fmt.Sprintf("must be at least %d characters long", p.PasswordMinLen))
		return
	}
	var upper, lower, digit, letter bool
	for _, r := range s {
		upper = upper || unicode.IsUpper(r)
		lower = lower || unicode.IsLower(r)
		digit = digit || unicode.IsDigit(r)
		letter = letter || unicode.IsLetter(r)
	}
	var missing []string
	if p.PasswordNeedsUpper && !upper {
		missing = append(missing, "an upper-case letter")
	}
	if p.PasswordNeedsLower && !lower {
		missing = append(missing, "a lower-case letter")
	}
	if p.PasswordNeedsLetter && !letter {
		missing = append(missing, "a letter")
	}
	if p.PasswordNeedsDigit && !digit {
		missing = append(missing, "a digit")
	}
	if len(missing) > 0 {
		probs.add(field, "must contain "+strings.Join(missing, ", "))
	}
}

// checkLoginPassword reports a login password that must not be compared:
// one over 72 bytes, whose tail bcrypt would silently ignore, and one with
// a control character (NUL above all, which bcrypt cannot tell from the end
// of a repeated key, so "abcd\x00abcd" would log in as "abcd") or invalid
// UTF-8, which no password set through the store contains.
func checkLoginPassword(field, s string) error {
	var rule string
	switch {
	case len(s) > MaxPasswordBytes:
		rule = fmt.Sprintf("must be at most %d bytes long", MaxPasswordBytes)
	case !utf8.ValidString(s):
		rule = "must be valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		rule = "must not contain control characters"
	default:
		return nil
	}
	return invalidLoginInput{&ValidationError{Fields: map[string]string{field: rule}}}
}

// CheckPassword reports whether password satisfies the policy as Register,
// ChangePassword, SetPassword and ResetPassword check it: nil, or a
// *ValidationError under "password". It lets a caller refuse a password
// before doing anything else it would have to undo.
func (p Policy) CheckPassword(password string) error {
	probs := problems{}
	p.checkPassword(probs, FieldPassword, password)
	return probs.err()
}
