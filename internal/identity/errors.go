package identity

import "errors"

// ErrInvalid is matched (errors.Is) by every *Error, for callers that only
// need to know that an input was refused.
var ErrInvalid = errors.New("identity: invalid input")

// Error is the error of a refused input. Reason is a short rule, phrased to
// follow a field name ("email must not mix scripts"); it never repeats the
// value, so it is safe to show to the user and to log.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "identity: " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true for every *Error, and
// errors.Is(err, ErrMixedScripts) (or any other rule below) true for an
// error of that rule. Rules compare by Reason, so a copy matches too.
func (e *Error) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// The rules an input can break, one per Reason. Match them with errors.Is;
// the functions of this package return copies, never these values, so a
// caller that changes the Reason of a returned error cannot change a rule.
var (
	// Text, and so Email.
	ErrInvalidUTF8 = &Error{"must be valid UTF-8"}
	ErrNUL         = &Error{"must not contain NUL bytes"}

	// Email, on the whole address as typed.
	ErrEmpty      = &Error{"must not be empty"}
	ErrTooLong    = &Error{"must be at most 254 bytes long"}
	ErrInvisible  = &Error{"must not contain invisible or control characters"}
	ErrUnassigned = &Error{"must not contain unassigned or private-use characters"}
	ErrSpace      = &Error{"must not contain white space"}
	ErrNotBare    = &Error{"must be a bare address, without a display name, quotes, comments or angle brackets"}
	ErrAt         = &Error{"must contain exactly one '@'"}

	// Email, on the part before the '@'.
	ErrLocalLength = &Error{"must have 1 to 64 bytes before the '@'"}
	ErrLocalChars  = &Error{"must have only letters, digits, dots and !#$%&'*+-/=?^_`{|}~ before the '@'"}
	ErrLocalDots   = &Error{"must not start or end with a dot, or have two dots in a row, before the '@'"}
	ErrMarkStart   = &Error{"must have a letter or digit before every combining mark"}
	ErrBidi        = &Error{"must follow the bidi rule for right-to-left text (RFC 5893)"}

	// Email, on either part.
	ErrMixedScripts = &Error{"must not mix scripts"}

	// Email, on the part after the '@'.
	ErrDomain       = &Error{"domain must be a valid host name"}
	ErrDomainLength = &Error{"domain must be at most 253 bytes long, with at most 63 bytes between dots, in its ASCII form"}
	ErrIPLiteral    = &Error{"domain must be a host name, not an IP address"}
)

// refuse returns a fresh copy of the rule r.
func refuse(r *Error) error {
	e := *r
	return &e
}
