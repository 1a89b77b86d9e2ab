package auth

import (
	"context"
	"encoding/json"

	"github.com/credstore/credstore/db"
)

// Registration is what a new user supplies. It is safe to decode a request
// body into: it has no field that grants anything (administrators are made
// by RegisterAdmin, a separate call), so a body's "is_admin" or any other
// unknown key sets nothing. Encoding it never writes the password (see
// MarshalJSON).
type Registration struct {
	Username string `json:"username"` // required or optional by Policy.RequireUsername
	Email    string `json:"email"`    // required
	Phone    string `json:"phone"`    // E.164; required or optional by Policy.RequirePhone
	Password string `json:"password"` // decoded, never encoded
}

// MarshalJSON encodes r without its password, so that a Registration that
// ends up in a log line or a reply does not carry it. The tag on Password is
// for decoding only.
func (r Registration) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Username string `json:"username,omitempty"`
		Email    string `json:"email"`
		Phone    string `json:"phone,omitempty"`
	}{r.Username, r.Email, r.Phone})
}

// Register validates r, hashes the password and stores the new user with
// their credential, returning the user. The user is not an administrator;
// RegisterAdmin makes one.
//
// Errors: *ValidationError (ErrValidation) listing every invalid field, with
// nothing written; *DuplicateError (ErrDuplicate) naming the field whose
// value another user holds (emails compared by their canonical form:
// case, width and Unicode normalisation do not make a new address). The
// database's unique constraints decide duplicates, so concurrent
// registrations of one name have exactly one winner.
func (s *Store) Register(ctx context.Context, r Registration) (User, error) {
	return s.register(ctx, "register", r, false)
}

// RegisterAdmin is Register for an administrator: the same validation and
// errors, and the audit trail records the grant (EventAdminGranted) beside
// the registration. It is a call of its own so that no decoded input can
// make an administrator; call it only on an operator's decision.
func (s *Store) RegisterAdmin(ctx context.Context, r Registration) (User, error) {
	return s.register(ctx, "register admin", r, true)
}

func (s *Store) register(ctx context.Context, op string, r Registration, admin bool) (User, error) {
	canonical, err := s.validateRegistration(r)
	if err != nil {
		return User{}, wrap(op, err)
	}
	hash, err := s.hash(ctx, r.Password)
	if err != nil {
		return User{}, wrap(op, err)
	}
	publicID, err := newUUIDv7(s.now(), s.cfg.Rand)
	if err != nil {
		return User{}, wrap(op, err)
	}
	var u db.User
	err = s.inTx(ctx, op, func(tx *txn) error {
		var err error
		u, err = tx.q.CreateUser(tx.ctx, db.CreateUserParams{
			PublicID:       publicID,
			Username:       nullable(r.Username),
			Email:          r.Email,
			EmailCanonical: canonical,
			Phone:          nullable(r.Phone),
			IsAdmin:        admin,
			Now:            tx.now,
		})
		if err != nil {
			return err
		}
		if err := tx.q.CreateCredential(tx.ctx, db.CreateCredentialParams{UserID: u.ID, PasswordHash: string(hash), Now: tx.now}); err != nil {
			return err
		}
		tx.record(EventUserRegistered, refOf(u), map[string]any{"is_admin": u.IsAdmin})
		if u.IsAdmin {
			tx.recordBy(EventAdminGranted, refOf(u), Actor{Kind: ActorSystem}, nil)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return userFromDB(u), nil
}

// validateRegistration checks r and returns the canonical form of its email.
func (s *Store) validateRegistration(r Registration) (string, error) {
	probs := problems{}
	canonical := s.checkProfile(probs, r.Username, r.Email, r.Phone)
	s.cfg.Policy.checkPassword(probs, FieldPassword, r.Password)
	return canonical, probs.err()
}

// checkProfile adds to probs what is wrong with a new user's username,
// email and phone, and returns the canonical form of the email.
func (s *Store) checkProfile(probs problems, username, email, phone string) string {
	p := s.cfg.Policy
	if username != "" {
		p.checkUsername(probs, username)
	} else if p.RequireUsername {
		probs.add(FieldUsername, "is required")
	}
	canonical := checkEmail(probs, email)
	if phone != "" {
		checkPhone(probs, phone)
	} else if p.RequirePhone {
		probs.add(FieldPhone, "is required")
	}
	return canonical
}
