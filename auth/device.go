package auth

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/credstore/credstore/db"
)

// LoginAttempt is one login: an identifier (a username, or an email address
// when it contains '@'), a password, and the device token the client
// presented, if any.
type LoginAttempt struct {
	Identifier string
	Password   string
	// DeviceToken is the device cookie the client sent ("" for none). A
	// live token that a successful login of this account handed out counts
	// the attempt in the device's own throttle bucket, apart from everyone
	// else's; any other value is ignored.
	DeviceToken string
}

// LoginResult is a successful login. It encodes to JSON as {"user",
// "session"}: the device token and its expiry are for a cookie, never a
// reply body, and are not encoded.
type LoginResult struct {
	User    User    `json:"user"`
	Session Session `json:"session"`
	// DeviceToken is the device cookie to set: the one presented when it
	// was live, a new one otherwise ("" from LoginSession, which issues
	// none). Like a session token it is a bearer secret, stored only
	// hashed; never log it.
	DeviceToken string `json:"-"`
	// DeviceExpiresAt is when the device token stops counting apart, unless
	// another successful login renews it.
	DeviceExpiresAt time.Time `json:"-"`
}

// maxDevicesPerUser bounds the device tokens kept per user; a login that
// issues one more forgets the oldest.
const maxDevicesPerUser = 20

// LoginWithDevice logs a user in as LoginSession does and hands out or
// renews the browser's device token, OWASP's "device cookie": the attempts
// of a browser that presents a token this account's logins handed out are
// throttled in the device's own bucket, so an attacker who exhausts the
// account's bucket does not lock out the owner on a browser they have
// logged in from before. The token is renewed (same value, new expiry) by
// every successful login that presents it.
//
// Errors: those of LoginSession, among them *ThrottledError (ErrThrottled)
// when the attempt's bucket is waiting; a throttled attempt costs no bcrypt
// work and says nothing about the password.
func (s *Store) LoginWithDevice(ctx context.Context, a LoginAttempt) (LoginResult, error) {
	g, err := s.passwordLogin(ctx, a, outDevice)
	return g.result(), err
}

// deviceOf returns the live device token with this value if it belongs to
// the user.
func (s *Store) deviceOf(ctx context.Context, token string, userID int64) (db.Device, bool) {
	if token == "" {
		return db.Device{}, false
	}
	hash, ok := tokenHash(token)
	if !ok {
		return db.Device{}, false
	}
	d, err := read(ctx, s.q.GetDevice, hash)
	if err != nil || subtle.ConstantTimeCompare([]byte(d.TokenHash), []byte(hash)) != 1 {
		return db.Device{}, false
	}
	now := s.now()
	if d.UserID != userID || !now.Before(d.ExpiresAt) || d.CreatedAt.After(now.Add(MaxClockSkew)) {
		return db.Device{}, false
	}
	return d, true
}

// grantDevice renews the device token p presented, or issues the new one
// (token, hash) when issue is set and p presented none or its token expired
// meanwhile. state says which, for the audit trail.
func (s *Store) grantDevice(tx *txn, userID int64, p proof, issue bool, token, hash string) (dev deviceGrant, state string, err error) {
	expires := tx.now.Add(s.cfg.DeviceLifetime)
	if p.device != nil {
		n, err := tx.q.RenewDevice(tx.ctx, db.RenewDeviceParams{ID: p.device.ID, UserID: userID, Now: tx.now, ExpiresAt: expires})
		if err != nil {
			return deviceGrant{}, "", err
		}
		if n == 1 {
			return deviceGrant{token: p.deviceToken, expiresAt: expires}, "known", nil
		}
	}
	if !issue {
		return deviceGrant{}, "none", nil
	}
	if _, err := tx.q.CreateDevice(tx.ctx, db.CreateDeviceParams{UserID: userID, TokenHash: hash, Now: tx.now, ExpiresAt: expires}); err != nil {
		return deviceGrant{}, "", err
	}
	if _, err := tx.q.TrimUserDevices(tx.ctx, db.TrimUserDevicesParams{UserID: userID, Keep: maxDevicesPerUser}); err != nil {
		return deviceGrant{}, "", err
	}
	return deviceGrant{token: token, expiresAt: expires}, "new", nil
}
