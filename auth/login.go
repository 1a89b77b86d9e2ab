package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/credstore/credstore/db"
)

// errCredentialChanged means a transaction found a user's password hash no
// longer the one a password was verified against outside it: a password
// change, set or reset (or a rehash) committed in between.
var errCredentialChanged = errors.New("credential changed since it was verified")

// stillPassword is errCredentialChanged unless the user's stored password
// hash is still verified, the hash a password was checked against outside
// the transaction (compared in constant time); "" asserts nothing. The
// caller has locked the user's row.
func (tx *txn) stillPassword(userID int64, verified string) error {
	if verified == "" {
		return nil
	}
	current, err := tx.q.GetPasswordHash(tx.ctx, userID)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(current), []byte(verified)) != 1 {
		return errCredentialChanged
	}
	return nil
}

// credentialRetries bounds how often an operation verifies a password again
// after errCredentialChanged. A rehash keeps the password, so verifying once
// more against the new hash succeeds; only a stream of concurrent changes
// can exhaust it, and then the password given is not reliably current.
const credentialRetries = 2

// invalidOr is ErrInvalidCredentials, unwrapped, for an error that is it
// or ErrNotFound (the user deleted since the check), and err otherwise.
func invalidOr(err error) error {
	if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrNotFound) {
		return ErrInvalidCredentials
	}
	return err
}

// provenPassword is a password verified outside a transaction: whose it is,
// the password itself (to verify again) and the hash it matched, which the
// transaction that acts on it re-asserts (stillPassword).
type provenPassword struct {
	userID   int64
	field    string // names the password in a *ValidationError
	password string
	hash     string
	// failed, when set, is what a password that no longer verifies
	// returns, given the verification's error (to record the failure).
	failed func(error) error
}

// whileProven runs act, a transaction that re-asserts the hash it is given,
// with p's hash. When act finds the hash changed (errCredentialChanged: a
// password written since the check), the password is verified again
// against the hash stored now and act runs again with it: a rehash kept the
// password, a change did not. This is the one place that retries.
//
// Errors: act's; ErrInvalidCredentials (unwrapped, or what p.failed makes
// of it) when the password no longer matches or the retries run out; the
// verification's others (ErrOverloaded, the database's) wrapped with op.
func (s *Store) whileProven(ctx context.Context, op string, p provenPassword, act func(hash string) error) error {
	hash := p.hash
	for attempt := 0; ; attempt++ {
		err := act(hash)
		switch {
		case !errors.Is(err, errCredentialChanged):
			return err
		case attempt == credentialRetries:
			return ErrInvalidCredentials
		}
		hash, err = s.verifyPassword(ctx, p.userID, p.field, p.password)
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidCredentials) && p.failed != nil:
			return p.failed(err)
		case errors.Is(err, ErrInvalidCredentials):
			return ErrInvalidCredentials
		default:
			return wrap(op, err)
		}
	}
}

// Login authenticates a user by username, or by email (by its canonical
// form, so in any case, width or normalisation) when identifier contains
// '@', and returns the user.
//
// Every failure returns ErrInvalidCredentials, unwrapped, and costs one
// bcrypt comparison at the store's cost: an unknown user is compared against
// a dummy hash, so neither the error nor the timing tells a missing account
// from a wrong password. A password over MaxPasswordBytes, with a control
// character or with invalid UTF-8 is refused with an error that is
// ErrInvalidCredentials and also a *ValidationError saying so. ErrOverloaded
// (wrapped) means the store was too busy to try. *ThrottledError
// (ErrThrottled) means the identifier has failed too often lately
// (Config.LoginThrottle): the attempt was refused before bcrypt, and RetryAt
// says when the next will be evaluated. While the account's own bucket waits
// (its other identifier failed too often), the password is not evaluated
// and the attempt fails with ErrInvalidCredentials; see authenticate. Other
// errors are the database's, wrapped.
//
// Every attempt, failed or not, is recorded in the audit trail.
//
// A correct password stored at a cost below the store's is rehashed at the
// store's cost on the way through.
func (s *Store) Login(ctx context.Context, identifier, password string) (User, error) {
	g, err := s.passwordLogin(ctx, LoginAttempt{Identifier: identifier, Password: password}, outUser)
	return g.user, err
}

// authenticate checks a login attempt: the throttle first (a waiting
// bucket refuses it before any work), then counts it, then compares the
// password, and records a failure in the audit trail. A success is recorded
// by the caller, in the transaction that acts on it, which also clears the
// buckets.
//
// Every failure costs one bcrypt comparison, whether or not the identifier
// names an account, and the throttle treats an identifier that names no
// account exactly as one that does, so neither the errors, nor their
// timing, nor the throttling tell them apart:
//
//   - Every attempt counts in the identifier's own bucket, and only that
//     bucket refuses with ErrThrottled.
//   - An attempt with an identifier that names an account also counts in
//     the account's bucket, shared by its username and its address, which
//     bounds the guesses at one password whichever identifier they use.
//     While that bucket waits, the password is not evaluated: the attempt
//     is compared against the dummy hash and refused with
//     ErrInvalidCredentials, as for an unknown identifier. A 429 for the
//     address after failures by the username would tell that they name
//     one account.
//   - An attempt that presents the account's device token counts in that
//     device's bucket only: its owner is not locked out by strangers.
func (s *Store) authenticate(ctx context.Context, a LoginAttempt) (proof, error) {
	row, hash, err := s.loginRow(ctx, a.Identifier)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return proof{}, wrap("login", err)
	}
	t := throttle{
		bucket:    identifierBucket(scopeLogin, a.Identifier),
		policy:    s.cfg.LoginThrottle,
		refused:   EventLoginThrottled,
		operation: "login",
	}
	p := proof{}
	if row != nil {
		p.user = *row
		t.subject = refOf(*row)
		t.shared = accountBucket(scopeLogin, row.ID)
		if d, ok := s.deviceOf(ctx, a.DeviceToken, row.ID); ok {
			p.device, p.deviceToken = &d, a.DeviceToken
			t.bucket, t.shared, t.device = deviceBucket(d.ID), "", true
		}
	} else {
		hash = s.dummy
	}
	p.throttle = t
	if err := s.check(ctx, t); err != nil {
		return proof{}, err
	}
	// A turn at the hash gate before the attempt is counted: an attempt
	// refused for overload is not a guess and must not count as one.
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return proof{}, wrap("login", err)
	}
	held := false
	if err := s.reserve(ctx, t); errors.As(err, new(errSharedWaiting)) {
		held, hash = true, s.dummy
	} else if err != nil {
		leave()
		return proof{}, err
	}
	ok := s.hasher.matches(hash, a.Password)
	leave()

	var reason string
	failure := error(ErrInvalidCredentials)
	switch inputErr := checkLoginPassword(FieldPassword, a.Password); {
	case inputErr != nil:
		reason, failure = "invalid_input", inputErr
	case row == nil:
		reason = "unknown_account"
	case held:
		reason = "account_throttled"
	case !ok:
		reason = "wrong_password"
	}
	if reason != "" {
		if err := s.recordFailure(ctx, t, EventLoginFailed, reason, Actor{Kind: ActorAnonymous}); err != nil {
			return proof{}, wrap("login", err)
		}
		return proof{}, failure
	}
	if row.DisabledAt.Valid {
		// The password was right: only now may the caller learn it.
		return proof{}, s.refuseDisabled(ctx, t)
	}
	if s.hasher.needsRehash(hash) {
		if newHash, ok := s.rehash(ctx, row.ID, hash, a.Password); ok {
			hash = newHash
		}
	}
	p.password = &provenPassword{userID: row.ID, field: FieldPassword, password: a.Password, hash: string(hash)}
	return p, nil
}

// recordFailure records a failed attempt counted in t's bucket. The
// attempt is already counted (reserve); this is the trail's record of it.
//
// It runs even when ctx has ended (a client that hung up after its guess),
// bounded by failureRecordTimeout: the attempt was counted, and every
// counted attempt is in the trail.
func (s *Store) recordFailure(ctx context.Context, t throttle, typ EventType, reason string, actor Actor) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureRecordTimeout)
	defer cancel()
	detail := map[string]any{"reason": reason}
	if t.scope() == scopeLogin {
		detail["device"] = t.device
	}
	return s.inTx(ctx, t.operation, func(tx *txn) error {
		tx.recordBy(typ, t.subject, actor, detail)
		return nil
	})
}

// failureRecordTimeout bounds the write of a failed attempt's event once
// the caller's context has ended.
const failureRecordTimeout = 5 * time.Second

// loginRow finds the user and hash for identifier. Input that no account can
// have (invalid UTF-8, NUL, an address without a canonical form) is
// ErrNotFound without a query.
func (s *Store) loginRow(ctx context.Context, identifier string) (*db.User, []byte, error) {
	if strings.Contains(identifier, "@") {
		canonical, ok := canonicalEmail(identifier)
		if !ok {
			return nil, nil, ErrNotFound
		}
		r, err := read(ctx, s.q.GetLoginByEmail, canonical)
		if err != nil {
			return nil, nil, err
		}
		return &r.User, []byte(r.PasswordHash), nil
	}
	if !lookupUsername(identifier) {
		return nil, nil, ErrNotFound
	}
	r, err := read(ctx, s.q.GetLoginByUsername, nullable(identifier))
	if err != nil {
		return nil, nil, err
	}
	return &r.User, []byte(r.PasswordHash), nil
}

// rehash stores password at the store's cost if the stored hash is still
// oldHash, and returns the new hash when it did. It is best effort: the
// login has succeeded whatever happens here, and the next login tries again.
func (s *Store) rehash(ctx context.Context, userID int64, oldHash []byte, password string) ([]byte, bool) {
	newHash, err := s.hash(ctx, password)
	if err != nil {
		return nil, false
	}
	var n int64
	err = s.inTx(ctx, "rehash", func(tx *txn) error {
		var err error
		n, err = tx.q.RehashPassword(tx.ctx, db.RehashPasswordParams{
			NewHash: string(newHash),
			OldHash: string(oldHash),
			UserID:  userID,
		})
		return err
	})
	return newHash, err == nil && n == 1
}

// verifyPassword checks password against the user's stored hash as Login
// does (one bcrypt comparison whether or not the user exists) and returns
// the hash it matched. field names the password in a *ValidationError.
//
// Errors: ErrInvalidCredentials (also a *ValidationError for input no
// password can be), ErrOverloaded, the database's.
func (s *Store) verifyPassword(ctx context.Context, userID int64, field, password string) (string, error) {
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return "", err
	}
	defer leave()
	return s.verifyPasswordInTurn(ctx, userID, field, password)
}

// verifyPasswordInTurn is verifyPassword for a caller that holds a turn at
// the hash gate.
func (s *Store) verifyPasswordInTurn(ctx context.Context, userID int64, field, password string) (string, error) {
	hash, err := read(ctx, s.q.GetPasswordHash, userID)
	found := err == nil
	if !found {
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
		hash = string(s.dummy)
	}
	ok := s.hasher.matches([]byte(hash), password)
	if err := checkLoginPassword(field, password); err != nil {
		return "", err
	}
	if !ok || !found {
		return "", ErrInvalidCredentials
	}
	return hash, nil
}
