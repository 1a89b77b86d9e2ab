package auth

import (
	"context"
	"fmt"

	"github.com/credstore/credstore/db"
)

// User returns the user with the given id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := s.queries().GetUserByID(ctx, id)
	return s.found("user", u, err)
}

// UserByPublicID returns the user with the given public id, or ErrNotFound.
func (s *Store) UserByPublicID(ctx context.Context, publicID string) (User, error) {
	u, err := s.queries().GetUserByPublicID(ctx, publicID)
	return s.found("user by public id", u, err)
}

// UserByUsername returns the user with exactly this username, or
// ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	if username == "" {
		return User{}, wrap("user by username", ErrNotFound)
	}
	u, err := s.queries().GetUserByUsername(ctx, nullable(username))
	return s.found("user by username", u, err)
}

// UserByEmail returns the user with this email address, compared
// case-insensitively, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.queries().GetUserByEmail(ctx, email)
	return s.found("user by email", u, err)
}

func (s *Store) found(op string, u db.User, err error) (User, error) {
	if err != nil {
		return User{}, wrap(op, mapError(err))
	}
	return userFromDB(u), nil
}

// DefaultPageSize and MaxPageSize bound ListUsers' Limit.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// ListOptions selects a page of users in id order.
type ListOptions struct {
	// AfterID is the id of the last user of the previous page; 0 for the
	// first page. Keyset pagination: pages stay consistent while users are
	// added and removed, and every page costs the same.
	AfterID int64
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// ListUsers returns up to opts.Limit users with ids above opts.AfterID, in
// id order. A page shorter than the limit is the last one.
func (s *Store) ListUsers(ctx context.Context, opts ListOptions) ([]User, error) {
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return nil, wrap("list users", &ValidationError{Fields: map[string]string{
			"limit": fmt.Sprintf("must be between 1 and %d", MaxPageSize),
		}})
	}
	rows, err := s.queries().ListUsers(ctx, db.ListUsersParams{AfterID: opts.AfterID, MaxRows: int64(limit)})
	if err != nil {
		return nil, wrap("list users", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = userFromDB(r)
	}
	return users, nil
}

// UserUpdate lists the fields to change; nil fields stay as they are. An
// empty Username or Phone removes it, where the policy makes it optional.
type UserUpdate struct {
	Username *string
	Email    *string
	Phone    *string
	IsAdmin  *bool
}

// UpdateUser applies u to the user with the given id and returns the
// result. Validation and uniqueness are those of Register, the user's own
// values excluded; updated_at moves even when nothing else does.
//
// Errors: *ValidationError, *DuplicateError, ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, id int64, u UserUpdate) (User, error) {
	p := s.cfg.Policy
	probs := problems{}
	params := db.UpdateUserParams{ID: id, Now: s.now()}
	if u.Username != nil {
		if *u.Username != "" {
			p.checkUsername(probs, *u.Username)
		} else if p.RequireUsername {
			probs.add(FieldUsername, "is required")
		}
		params.SetUsername, params.Username = true, nullable(*u.Username)
	}
	if u.Email != nil {
		checkEmail(probs, *u.Email)
		params.SetEmail, params.Email = true, *u.Email
	}
	if u.Phone != nil {
		if *u.Phone != "" {
			checkPhone(probs, *u.Phone)
		} else if p.RequirePhone {
			probs.add(FieldPhone, "is required")
		}
		params.SetPhone, params.Phone = true, nullable(*u.Phone)
	}
	if u.IsAdmin != nil {
		params.SetIsAdmin, params.IsAdmin = true, *u.IsAdmin
	}
	if err := probs.err(); err != nil {
		return User{}, wrap("update user", err)
	}
	var updated db.User
	err := s.inTx(ctx, func(q *db.Queries) error {
		var err error
		updated, err = q.UpdateUser(ctx, params)
		return mapError(err)
	})
	if err != nil {
		return User{}, wrap("update user", err)
	}
	return userFromDB(updated), nil
}

// ChangePassword replaces the user's password after checking the current
// one, as a user does for themselves, and ends every session of the user in
// the same transaction: whoever held a session under the old password is
// out. Start a new session (CreateSession) for the user who made the change;
// it also gives them a fresh token.
//
// Errors: ErrInvalidCredentials when current is wrong or the user does not
// exist (the two take the same time), and when current is over
// MaxPasswordBytes, in which case the error is also a *ValidationError for
// "current_password"; *ValidationError when newPassword breaks the policy,
// reported under "new_password" before any bcrypt work.
func (s *Store) ChangePassword(ctx context.Context, id int64, current, newPassword string) error {
	probs := problems{}
	s.cfg.Policy.checkPassword(probs, FieldNewPassword, newPassword)
	if err := probs.err(); err != nil {
		return wrap("change password", err)
	}
	oldHash, err := s.queries().GetPasswordHash(ctx, id)
	found := err == nil
	if !found {
		if err = mapError(err); err != ErrNotFound {
			return wrap("change password", err)
		}
		oldHash = string(s.dummy)
	}
	ok, err := s.matches(ctx, []byte(oldHash), current)
	if err != nil {
		return wrap("change password", err)
	}
	if err := checkLoginPassword(FieldCurrentPassword, current); err != nil {
		return err
	}
	if !ok || !found {
		return ErrInvalidCredentials
	}
	newHash, err := s.hash(ctx, newPassword)
	if err != nil {
		return wrap("change password", err)
	}
	err = s.inTx(ctx, func(q *db.Queries) error {
		now := s.now()
		n, err := q.ReplacePasswordHash(ctx, db.ReplacePasswordHashParams{
			NewHash: string(newHash), OldHash: oldHash, UserID: id, Now: now,
		})
		if err != nil {
			return err
		}
		if n == 0 {
			// The password changed (or the user went) after it was
			// checked: the current password given is no longer current.
			return ErrInvalidCredentials
		}
		if _, err := q.TouchUser(ctx, db.TouchUserParams{ID: id, Now: now}); err != nil {
			return err
		}
		_, err = q.DeleteUserSessions(ctx, id)
		return err
	})
	if err == ErrInvalidCredentials {
		return err
	}
	return wrap("change password", err)
}

// SetPassword replaces the user's password without the current one, as an
// administrator does, and ends every session of the user in the same
// transaction.
//
// Errors: *ValidationError ("new_password"), ErrNotFound.
func (s *Store) SetPassword(ctx context.Context, id int64, newPassword string) error {
	probs := problems{}
	s.cfg.Policy.checkPassword(probs, FieldNewPassword, newPassword)
	if err := probs.err(); err != nil {
		return wrap("set password", err)
	}
	hash, err := s.hash(ctx, newPassword)
	if err != nil {
		return wrap("set password", err)
	}
	err = s.inTx(ctx, func(q *db.Queries) error {
		now := s.now()
		n, err := q.SetPasswordHash(ctx, db.SetPasswordHashParams{PasswordHash: string(hash), UserID: id, Now: now})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := q.TouchUser(ctx, db.TouchUserParams{ID: id, Now: now}); err != nil {
			return err
		}
		_, err = q.DeleteUserSessions(ctx, id)
		return err
	})
	return wrap("set password", err)
}

// DeleteUser deletes the user; the database cascades the delete to their
// credential, sessions, reset tokens and everything else they own.
//
// Errors: ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(q *db.Queries) error {
		n, err := q.DeleteUser(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	return wrap("delete user", err)
}
