package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/credstore/credstore/internal/database"
)

// Sentinel errors. Match them with errors.Is; the typed errors below match
// the sentinel of their kind as well.
var (
	// ErrInvalidCredentials is the one error of every failed login and of
	// every wrong current password: unknown user, wrong password and
	// malformed input cannot be told apart by their error or their timing.
	ErrInvalidCredentials = errors.New("invalid username or password")

	// ErrNotFound means no user matched.
	ErrNotFound = errors.New("user not found")

	// ErrValidation is matched by every *ValidationError.
	ErrValidation = errors.New("invalid input")

	// ErrDuplicate is matched by every *DuplicateError.
	ErrDuplicate = errors.New("already registered")

	// ErrInvalidSession is the one error of every session token that does
	// not name a live session: malformed, unknown, revoked, past its
	// absolute lifetime or idle for too long.
	ErrInvalidSession = errors.New("invalid or expired session")

	// ErrNotAdmin means an operation run for an administrator
	// (Actor.Kind ActorAdmin with a SessionID) found, in its transaction,
	// that the user is no longer one: demoted, or deleted, since the
	// request was authenticated. Nothing was written.
	ErrNotAdmin = errors.New("the acting user is not an administrator")

	// ErrSessionNotFound means the user has no session with that id.
	ErrSessionNotFound = errors.New("session not found")

	// ErrInvalidResetToken is the one error of every password-reset token
	// that cannot be used: malformed, unknown, expired, already spent,
	// replaced by a newer token, or issued for another email address.
	ErrInvalidResetToken = errors.New("invalid or expired password reset token")

	// ErrOverloaded means the store refused the call without doing it,
	// because as many password hashes as Config.MaxConcurrentHashes allows
	// are running and Config.MaxQueuedHashes more are waiting. Nothing was
	// written; the caller may try again shortly (a server answers 503 with
	// Retry-After).
	ErrOverloaded = errors.New("too many password operations in progress; try again shortly")

	// ErrUnavailable means the database could not be reached or could not
	// take the call for now, for a reason of its own that passes: a
	// restart, a connection the server ended, too many connections, a full
	// disk (SQLite: SQLITE_FULL). The call's transaction did not commit;
	// the caller may try again shortly (a server answers 503 with
	// Retry-After). The error wraps the driver's, for logs; a failing disk
	// or a damaged file is not this error, since no retry mends it.
	ErrUnavailable = database.ErrUnavailable

	// ErrThrottled is matched by every *ThrottledError: too many failed
	// attempts on one account (or one identifier that names none), so this
	// attempt was refused before its password was looked at.
	ErrThrottled = errors.New("too many attempts; try again later")

	// ErrSecondFactorRequired is matched by every *SecondFactorRequiredError:
	// the password was right, and the user has a second factor to give.
	ErrSecondFactorRequired = errors.New("second factor required")

	// ErrInvalidCode means a TOTP code confirming an enrollment was wrong.
	// (A wrong code at login is ErrInvalidCredentials, like every failed
	// login.)
	ErrInvalidCode = errors.New("invalid or expired code")

	// ErrNoEnrollment means the user has no pending TOTP enrollment.
	ErrNoEnrollment = errors.New("no pending two-factor enrollment")

	// ErrNoSecondFactor means the user has no active second factor.
	ErrNoSecondFactor = errors.New("no second factor enrolled")

	// ErrInvalidToken is the one error of every access token refused:
	// malformed, signed with another algorithm or by an unknown or purged
	// key, tampered with, expired, not yet valid, for another issuer or
	// audience, or (VerifyOptions.CheckSession) of a session that ended.
	// The error returned wraps it with the reason, for logs; the reason
	// never contains the token.
	ErrInvalidToken = errors.New("invalid access token")

	// ErrInvalidRefreshToken is the one error of every refresh token that
	// cannot be exchanged and was not a reuse: malformed, unknown, or of a
	// session that ended (logged out, revoked, expired, idle too long).
	ErrInvalidRefreshToken = errors.New("invalid or expired refresh token")

	// ErrRefreshTokenReused means the refresh token was already exchanged
	// for a newer one. Someone else may hold a copy, so its whole family
	// (its session, every refresh token of it, and the access tokens checked
	// against the session) has been revoked and the event audited; the user
	// must log in again.
	ErrRefreshTokenReused = errors.New("refresh token reused; its session has been revoked")

	// ErrAccountDisabled means the password (and second factor) given were
	// right, but an administrator has disabled the account (DisableUser).
	// Only a caller who proved the password gets it: a wrong password for a
	// disabled account is ErrInvalidCredentials, as for any account.
	ErrAccountDisabled = errors.New("account disabled")
)

// tokenError is an access token refused for reason: ErrInvalidToken with a
// reason for logs. The reason is always one of this package's constant
// strings, never the token nor a library's message about its bytes.
type tokenError struct{ reason string }

func (e *tokenError) Error() string { return ErrInvalidToken.Error() + ": " + e.reason }

// Is makes errors.Is(err, ErrInvalidToken) true.
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }

func invalidToken(reason string) error { return &tokenError{reason: reason} }

// SecondFactorRequiredError is what a login with the right password returns
// for a user with an active second factor: no session yet, but a challenge
// to answer with CompleteLogin within ExpiresAt, once, with at most
// MaxChallengeFailures wrong codes.
type SecondFactorRequiredError struct {
	// Challenge is the bearer token of the pending login; only its hash is
	// stored. Hand it to the client, never log it.
	Challenge string
	ExpiresAt time.Time
}

func (e *SecondFactorRequiredError) Error() string { return ErrSecondFactorRequired.Error() }

// Is makes errors.Is(err, ErrSecondFactorRequired) true.
func (e *SecondFactorRequiredError) Is(target error) bool { return target == ErrSecondFactorRequired }

// ThrottledError refuses an attempt that the throttle does not allow yet
// (see ThrottlePolicy). It says when the next attempt will be evaluated, and
// nothing about the account or the password: an identifier that names no
// account is throttled exactly like one that does.
type ThrottledError struct {
	// RetryAt is when the next attempt will be evaluated.
	RetryAt time.Time
	// RetryAfter is RetryAt less the store's clock at refusal, at least one
	// second: what a server puts in Retry-After.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s (retry in %v)", ErrThrottled.Error(), e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// ValidationError reports every problem with an input at once, by field.
// Messages describe the rule that was broken and never repeat the value, so
// they are safe to show to the user and to log.
type ValidationError struct {
	// Fields maps a field name ("username", "email", "phone", "password",
	// "new_password") to what is wrong with it.
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, name := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s", name, e.Fields[name])
	}
	return b.String()
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// DuplicateError means the value of Field belongs to another user already.
// The database's unique constraints decide it, so of two concurrent
// registrations of one name exactly one gets this error.
type DuplicateError struct {
	Field string // "username", "email", "phone", or "public_id" (an imported id)
}

func (e *DuplicateError) Error() string { return e.Field + " already registered" }

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// invalidLoginInput is the error of a login whose input breaks a rule the
// caller can fix (a password over 72 bytes). It is ErrInvalidCredentials, so
// a login's failures stay one error, and it is also the *ValidationError
// that says which rule, since that reveals nothing about any account.
type invalidLoginInput struct{ v *ValidationError }

func (e invalidLoginInput) Error() string {
	return ErrInvalidCredentials.Error() + ": " + e.v.Error()
}

func (e invalidLoginInput) Unwrap() []error { return []error{ErrInvalidCredentials, e.v} }
