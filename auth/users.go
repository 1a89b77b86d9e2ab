package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credstore/credstore/db"
)

// User returns the user with the given id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := read(ctx, s.q.GetUserByID, id)
	return s.found("user", u, err)
}

// UserByPublicID returns the user with the given public id, in any case, or
// ErrNotFound.
func (s *Store) UserByPublicID(ctx context.Context, publicID string) (User, error) {
	id, ok := canonicalPublicID(publicID)
	if !ok {
		return User{}, wrap("user by public id", ErrNotFound)
	}
	u, err := read(ctx, s.q.GetUserByPublicID, id)
	return s.found("user by public id", u, err)
}

// UserByUsername returns the user with exactly this username, or
// ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	if !lookupUsername(username) {
		return User{}, wrap("user by username", ErrNotFound)
	}
	u, err := read(ctx, s.q.GetUserByUsername, nullable(username))
	return s.found("user by username", u, err)
}

// UserByEmail returns the user with this email address, matched by its
// canonical form (case, width and Unicode normalisation aside), or
// ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	canonical, ok := canonicalEmail(email)
	if !ok {
		return User{}, wrap("user by email", ErrNotFound)
	}
	u, err := read(ctx, s.q.GetUserByEmail, canonical)
	return s.found("user by email", u, err)
}

func (s *Store) found(op string, u db.User, err error) (User, error) {
	if err != nil {
		return User{}, wrap(op, err)
	}
	return userFromDB(u), nil
}

// DefaultPageSize and MaxPageSize bound ListUsers' Limit.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// ListOptions selects a page of users.
//
// Pages are keyset-paginated: each page starts after the last user of the
// previous one, so pages stay consistent while users are added and removed,
// and every page costs the same. A page shorter than the limit is the last.
type ListOptions struct {
	// Order is the order users are listed in: ByID, the zero value, or
	// ByPublicID.
	Order ListOrder
	// AfterID is the cursor in ByID order: the ID of the last user of the
	// previous page; 0 for the first page.
	AfterID int64
	// AfterPublicID is the cursor in ByPublicID order: the PublicID of the
	// last user of the previous page, in any case; "" for the first page.
	// It is what a client that sees only public ids hands back.
	AfterPublicID string
	// AdminsOnly keeps the administrators.
	AdminsOnly bool
	// Search, when not "", keeps the users whose email address (in its
	// canonical form: lower case, an internationalized domain as its
	// xn-- A-label) or username starts with it, case-insensitively: what an
	// administrator types to find an account. At most MaxSearchLen bytes of
	// valid UTF-8 without control characters.
	Search string
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// MaxSearchLen bounds ListOptions.Search: an email address's length.
const MaxSearchLen = 254

// ListOrder is an order of ListUsers.
type ListOrder int

const (
	// ByID lists users by their internal ID, with ListOptions.AfterID as
	// the cursor: the order they were stored in.
	ByID ListOrder = iota
	// ByPublicID lists users by PublicID, with ListOptions.AfterPublicID as
	// the cursor: the order of their registration times, to the
	// millisecond (public ids are UUIDv7; those of one millisecond follow
	// their random bits).
	ByPublicID
)

// ListUsers returns a page of users: up to opts.Limit users after the
// cursor of opts.Order, in that order.
//
// Errors: *ValidationError for a limit outside 1..MaxPageSize, an unknown
// order, a cursor of the other order ("after_id", "after_public_id"), or an
// AfterPublicID that is not a public id.
func (s *Store) ListUsers(ctx context.Context, opts ListOptions) ([]User, error) {
	limit := opts.Limit
	probs := problems{}
	prefix := strings.ToLower(opts.Search)
	switch {
	case len(opts.Search) > MaxSearchLen:
		probs.add("search", fmt.Sprintf("must be at most %d bytes long", MaxSearchLen))
	case !utf8.ValidString(opts.Search) || strings.ContainsFunc(opts.Search, unicode.IsControl):
		probs.add("search", "must be text without control characters")
	}
	search, prefixLen := prefix != "", int64(utf8.RuneCountInString(prefix))
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		probs.add("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	var (
		rows []db.User
		err  error
	)
	switch opts.Order {
	case ByID:
		if opts.AfterPublicID != "" {
			probs.add("after_public_id", "is the cursor of the public-id order")
		}
		if err := probs.err(); err != nil {
			return nil, wrap("list users", err)
		}
		rows, err = read(ctx, s.q.ListUsers, db.ListUsersParams{
			AfterID: opts.AfterID, AdminsOnly: opts.AdminsOnly, MaxRows: int64(limit),
			Search: search, Prefix: prefix, PrefixLen: prefixLen,
		})
	case ByPublicID:
		if opts.AfterID != 0 {
			probs.add("after_id", "is the cursor of the id order")
		}
		after, ok := "", true
		if opts.AfterPublicID != "" {
			if after, ok = canonicalPublicID(opts.AfterPublicID); !ok {
				probs.add("after_public_id", "must be a public id such as 01890a5d-ac96-774b-bcce-b302099a8057")
			}
		}
		if err := probs.err(); err != nil {
			return nil, wrap("list users", err)
		}
		rows, err = read(ctx, s.q.ListUsersByPublicID, db.ListUsersByPublicIDParams{
			AfterPublicID: after, AdminsOnly: opts.AdminsOnly, MaxRows: int64(limit),
			Search: search, Prefix: prefix, PrefixLen: prefixLen,
		})
	default:
		probs.add("order", "must be ByID or ByPublicID")
		return nil, wrap("list users", probs.err())
	}
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

	// Password, when set, replaces the password as SetPassword does, in the
	// same transaction as the other fields: an update either changes all
	// it names or nothing. It is checked against the policy (reported
	// under "password") before any bcrypt work, and hashed before the
	// transaction begins.
	Password *string

	// Disabled, when set, disables (true) or enables (false) the account
	// as DisableUser and EnableUser do, in the same transaction as the
	// other fields; DisabledReason is the reason a disable records (only
	// with Disabled true, reported under "disabled_reason").
	Disabled       *bool
	DisabledReason string

	// KeepSessionID is the session of whoever makes the change (0 for
	// none). When the email address or the password changes, every other
	// session of the user ends; an address change also spends any
	// outstanding reset token. Both were proof of control of the old
	// address or of the old password.
	KeepSessionID int64
}

// UpdateUser applies u to the user with the given id and returns the
// result. Validation and uniqueness are those of Register, the user's own
// values excluded; updated_at moves even when nothing else does. A change
// of the email address (of its canonical form) spends the user's reset token
// and ends their sessions but u.KeepSessionID, in the same transaction; so
// does a new password. u.Disabled disables or enables the account as
// DisableUser and EnableUser do, in that same transaction.
//
// Errors: *ValidationError (also "disabled_reason": given without Disabled
// true, or not a reason DisableUser takes), *DuplicateError, ErrNotFound,
// ErrOverloaded (wrapped) when a new password cannot be hashed for load.
func (s *Store) UpdateUser(ctx context.Context, id int64, u UserUpdate) (User, error) {
	return s.updateUser(ctx, "update user", id, u, nil)
}

// updateUser is UpdateUser for the operation op; with proof, the change is
// made only if the user's password is still the one proven, and clears
// the proof's throttle bucket.
func (s *Store) updateUser(ctx context.Context, op string, id int64, u UserUpdate, proof *passwordProof) (User, error) {
	params, err := s.cfg.Policy.updateParams(id, u)
	if err != nil {
		return User{}, wrap(op, err)
	}
	var hash []byte
	if u.Password != nil {
		if hash, err = s.hash(ctx, *u.Password); err != nil {
			return User{}, wrap(op, err)
		}
	}
	var updated db.User
	update := func(proven string) error {
		return s.inTx(ctx, op, func(tx *txn) error {
			// Lock, then read: the address this update replaces is the one
			// committed last, not one read before a concurrent change.
			before, err := tx.lockUser(id)
			if err != nil {
				return err
			}
			if proof != nil {
				if err := tx.stillPassword(id, proven); err != nil {
					return err
				}
				if err := tx.clear(proof.bucket); err != nil {
					return err
				}
			}
			updated, err = tx.applyUserUpdate(before, params, hash, u.KeepSessionID)
			if err != nil || u.Disabled == nil {
				return err
			}
			updated, err = tx.setDisabled(updated, *u.Disabled, u.DisabledReason)
			return err
		})
	}
	if proof != nil {
		err = s.whileProven(ctx, op, proof.provenPassword, update)
	} else {
		err = update("")
	}
	if err != nil {
		return User{}, err
	}
	return userFromDB(updated), nil
}

// updateParams checks u as Register checks a registration, each field only
// when u changes it, and turns it into the query's parameters. Every
// problem is found before anything is hashed or written. Errors:
// *ValidationError.
func (p *Policy) updateParams(id int64, u UserUpdate) (db.UpdateUserParams, error) {
	probs := problems{}
	params := db.UpdateUserParams{ID: id}
	if u.Username != nil {
		if *u.Username != "" {
			p.checkUsername(probs, *u.Username)
		} else if p.RequireUsername {
			probs.add(FieldUsername, "is required")
		}
		params.SetUsername, params.Username = true, nullable(*u.Username)
	}
	if u.Email != nil {
		params.SetEmail, params.Email = true, *u.Email
		params.EmailCanonical = checkEmail(probs, *u.Email)
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
	if u.Password != nil {
		p.checkPassword(probs, FieldPassword, *u.Password)
	}
	if u.DisabledReason != "" && (u.Disabled == nil || !*u.Disabled) {
		probs.add("disabled_reason", "is given only with disabled true")
	} else {
		checkDisabledReason(probs, "disabled_reason", u.DisabledReason)
	}
	return params, probs.err()
}

// applyUserUpdate writes params over before, the user's row as locked, and
// in the same transaction what UpdateUser promises follows from the change:
// a new email address (canonical form) spends the reset token mailed to the
// old one and ends the sessions but keep; hash, when set, becomes the
// password, with the same effect; the audit trail records the names of the
// fields changed and any change of admin status.
func (tx *txn) applyUserUpdate(before db.User, params db.UpdateUserParams, hash []byte, keep int64) (db.User, error) {
	params.Now = tx.now
	updated, err := tx.q.UpdateUser(tx.ctx, params)
	if err != nil {
		return updated, err
	}
	ref := refOf(updated)
	detail := map[string]any{"fields": changedFields(before, updated)}
	if updated.EmailCanonical != before.EmailCanonical {
		if _, err := tx.q.DeleteUserPasswordResets(tx.ctx, before.ID); err != nil {
			return updated, err
		}
		ended, err := tx.q.DeleteOtherUserSessions(tx.ctx, db.DeleteOtherUserSessionsParams{UserID: before.ID, KeepID: keep})
		if err != nil {
			return updated, err
		}
		detail["sessions_ended"] = ended
	}
	if len(detail["fields"].([]string)) > 0 {
		tx.recordBy(EventUserUpdated, ref, Actor{Kind: ActorSystem}, detail)
	}
	if hash != nil {
		if err := tx.setPassword(ref, hash, keep); err != nil {
			return updated, err
		}
	}
	if before.IsAdmin != updated.IsAdmin {
		typ := EventAdminRevoked
		if updated.IsAdmin {
			typ = EventAdminGranted
		}
		tx.recordBy(typ, ref, Actor{Kind: ActorSystem}, nil)
	}
	return updated, nil
}

// changedFields names the fields whose values differ between a and b, for
// the audit trail, which records the names and never the values.
func changedFields(a, b db.User) []string {
	fields := []string{}
	if a.Username != b.Username {
		fields = append(fields, FieldUsername)
	}
	if a.Email != b.Email {
		fields = append(fields, FieldEmail)
	}
	if a.Phone != b.Phone {
		fields = append(fields, FieldPhone)
	}
	if a.IsAdmin != b.IsAdmin {
		fields = append(fields, "is_admin")
	}
	return fields
}

// ChangePassword replaces the user's password after checking the current
// one, as a user does for themselves, and ends every session of the user in
// the same transaction: whoever held a session under the old password is
// out, the caller too. To keep the caller signed in, use
// ChangePasswordSession or ChangePasswordTokens, which start their new
// session in that same transaction; a session started afterwards
// (CreateSession) would survive a reset or a revocation that committed in
// between.
//
// The write happens only if the stored hash is still the one current was
// verified against (a compare-and-swap). When it is not, because a login
// rehashed the same password meanwhile, current is verified again against
// the new hash; a real change in between makes current wrong.
//
// Errors: ErrInvalidCredentials when current is wrong or the user does not
// exist (the two take the same time), and when current is over
// MaxPasswordBytes or has a control character, in which case the error is
// also a *ValidationError for "current_password"; *ValidationError when
// newPassword breaks the policy, reported under "new_password" before any
// bcrypt work; ErrOverloaded (wrapped) when the store is too busy to hash.
func (s *Store) ChangePassword(ctx context.Context, id int64, current, newPassword string) error {
	_, _, err := s.changePassword(ctx, id, current, newPassword, nil)
	return err
}

// ChangePasswordSession is ChangePassword for a caller who stays signed in:
// the transaction that ends every session of the user also starts a new
// one, which it returns with its token, and with the user as the change
// left them. Nothing can come between the two: a reset, a revocation or
// another change that commits after this one ends the new session too.
//
// Errors: those of ChangePassword.
func (s *Store) ChangePasswordSession(ctx context.Context, id int64, current, newPassword string) (User, Session, error) {
	token, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return User{}, Session{}, wrap("change password", err)
	}
	u, row, err := s.changePassword(ctx, id, current, newPassword, &renewal{tokenHash: hash})
	if err != nil {
		return User{}, Session{}, err
	}
	sess := sessionFromDB(row)
	sess.Token = token
	return userFromDB(u), sess, nil
}

// ChangePasswordTokens is ChangePasswordSession for a client of tokens (see
// IssueTokens): the session it starts is a new refresh-token family, and it
// returns the family's first refresh token with an access token. The
// caller's old family ends with every other session.
//
// Errors: those of ChangePassword; ErrNoSecretKey (wrapped) without
// Config.SecretKeys, before the password is looked at.
func (s *Store) ChangePasswordTokens(ctx context.Context, id int64, current, newPassword string) (TokenResult, error) {
	if _, err := s.activeKeys(ctx); err != nil {
		return TokenResult{}, wrap("change password", err)
	}
	_, hash, err := newToken(s.cfg.Rand)
	if err != nil {
		return TokenResult{}, wrap("change password", err)
	}
	refresh, refreshHash, err := newToken(s.cfg.Rand)
	if err != nil {
		return TokenResult{}, wrap("change password", err)
	}
	u, row, err := s.changePassword(ctx, id, current, newPassword, &renewal{tokenHash: hash, refreshHash: refreshHash})
	if err != nil {
		return TokenResult{}, err
	}
	return s.tokenResult(ctx, userFromDB(u), row.ID, refresh)
}

// renewal is the session a password change starts for its caller in its
// own transaction: the hash of the session's token, and of the first
// refresh token of its family for a client of tokens ("" otherwise).
type renewal struct{ tokenHash, refreshHash string }

// changePassword is ChangePassword, which also starts the session of renew
// when it is not nil, and returns it with the user.
func (s *Store) changePassword(ctx context.Context, id int64, current, newPassword string, renew *renewal) (db.User, db.Session, error) {
	probs := problems{}
	s.cfg.Policy.checkPassword(probs, FieldNewPassword, newPassword)
	if err := probs.err(); err != nil {
		return db.User{}, db.Session{}, wrap("change password", err)
	}
	oldHash, t, verr, err := s.verifyCurrentPassword(ctx, "change password", id, FieldCurrentPassword, current)
	if err != nil {
		return db.User{}, db.Session{}, err
	}
	if verr != nil {
		return db.User{}, db.Session{}, s.currentPasswordFailed(ctx, t, "", verr)
	}
	newHash, err := s.hash(ctx, newPassword)
	if err != nil {
		return db.User{}, db.Session{}, wrap("change password", err)
	}
	var (
		u    db.User
		sess db.Session
	)
	p := provenPassword{
		userID: id, field: FieldCurrentPassword, password: current, hash: oldHash,
		failed: func(err error) error { return s.currentPasswordFailed(ctx, t, "", err) },
	}
	err = s.whileProven(ctx, "change password", p, func(oldHash string) error {
		return s.inTx(ctx, "change password", func(tx *txn) error {
			// The user's row first, as every password write does (LockUser).
			var err error
			u, err = tx.touchUser(id)
			if errors.Is(err, ErrNotFound) {
				return ErrInvalidCredentials // gone since the check
			} else if err != nil {
				return err
			}
			n, err := tx.q.ReplacePasswordHash(tx.ctx, db.ReplacePasswordHashParams{
				NewHash: string(newHash), OldHash: oldHash, UserID: id, Now: tx.now,
			})
			if err != nil {
				return err
			}
			if n == 0 {
				return errCredentialChanged
			}
			ended, err := tx.q.DeleteUserSessions(tx.ctx, id)
			if err != nil {
				return err
			}
			if err := tx.clear(t.bucket); err != nil {
				return err
			}
			tx.record(EventPasswordChanged, t.subject, map[string]any{"sessions_ended": ended})
			if renew == nil {
				return nil
			}
			if u.DisabledAt.Valid {
				return ErrAccountDisabled // no new session for a disabled account
			}
			if sess, err = tx.q.CreateSession(tx.ctx, db.CreateSessionParams{
				UserID: id, TokenHash: renew.tokenHash, Now: tx.now, ExpiresAt: tx.now.Add(s.cfg.SessionLifetime),
			}); err != nil {
				return err
			}
			detail := map[string]any{"session_id": sess.ID}
			if renew.refreshHash != "" {
				if err := tx.q.CreateRefreshToken(tx.ctx, db.CreateRefreshTokenParams{
					SessionID: sess.ID, TokenHash: renew.refreshHash, Now: tx.now,
				}); err != nil {
					return err
				}
				detail["tokens"] = true
			}
			tx.record(EventSessionCreated, t.subject, detail)
			return nil
		})
	})
	if errors.Is(err, ErrInvalidCredentials) {
		return db.User{}, db.Session{}, ErrInvalidCredentials
	}
	return u, sess, err
}

// verifyCurrentPassword checks a user's current password for an operation
// that asks for it (ChangePassword, replacing or removing a second factor),
// throttled in the user's change bucket, apart from logins: a waiting bucket
// refuses at once; otherwise the attempt takes its turn at the hash gate
// (an attempt refused for overload is not a guess), is counted, and runs
// one bcrypt comparison. err is a refusal before anything was counted
// (*ThrottledError, ErrOverloaded wrapped with op), for the caller to return
// as it is; verr is the comparison's result (ErrInvalidCredentials and the
// errors that are it, or the database's), and hash the hash it matched.
// The caller clears t's bucket in the transaction that acts on a success,
// and records a failure with currentPasswordFailed.
func (s *Store) verifyCurrentPassword(ctx context.Context, op string, userID int64, field, password string) (hash string, t throttle, verr, err error) {
	t = throttle{bucket: changeBucket(ctx, userID), policy: s.cfg.LoginThrottle, refused: EventPasswordChangeThrottled, operation: op}
	if u, err := read(ctx, s.q.GetUserByID, userID); err == nil {
		t.subject = refOf(u)
	}
	if err := s.check(ctx, t); err != nil {
		return "", t, nil, err
	}
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return "", t, nil, wrap(op, err)
	}
	defer leave()
	if err := s.reserve(ctx, t); err != nil {
		return "", t, nil, err
	}
	hash, verr = s.verifyPasswordInTurn(ctx, userID, field, password)
	return hash, t, verr, nil
}

// currentPasswordFailed records a failed check of a current password (the
// attempt is counted already) with reason ("" for wrong_password, or
// invalid_input when the password could be none), and returns err as the
// operation returns it: ErrInvalidCredentials and the errors that are it as
// they are, anything else wrapped with the operation's name.
func (s *Store) currentPasswordFailed(ctx context.Context, t throttle, reason string, err error) error {
	if !errors.Is(err, ErrInvalidCredentials) {
		return wrap(t.operation, err)
	}
	if reason == "" {
		reason = "wrong_password"
		if errors.Is(err, ErrValidation) {
			reason = "invalid_input"
		}
	}
	actor := Actor{Kind: ActorAnonymous}
	if t.subject != nil {
		actor = Actor{Kind: ActorUser, UserID: t.subject.id}
	}
	if rerr := s.recordFailure(ctx, t, EventPasswordChangeFailed, reason, actor); rerr != nil {
		return wrap(t.operation, rerr)
	}
	return err
}

// SetPassword replaces the user's password without the current one, as an
// administrator does, and ends every session of the user in the same
// transaction.
//
// Errors: *ValidationError ("new_password"), ErrNotFound, ErrOverloaded
// (wrapped).
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
	return s.inTx(ctx, "set password", func(tx *txn) error {
		// The user's row first, as every password write does (LockUser).
		u, err := tx.touchUser(id)
		if err != nil {
			return err
		}
		return tx.setPassword(refOf(u), hash, 0)
	})
}

// setPassword writes hash as the user's password and ends every session of
// the user but keep (0 keeps none). The caller has locked the user's row.
func (tx *txn) setPassword(u *userRef, hash []byte, keep int64) error {
	if _, err := tx.q.SetPasswordHash(tx.ctx, db.SetPasswordHashParams{PasswordHash: string(hash), UserID: u.id, Now: tx.now}); err != nil {
		return err
	}
	ended, err := tx.q.DeleteOtherUserSessions(tx.ctx, db.DeleteOtherUserSessionsParams{UserID: u.id, KeepID: keep})
	if err != nil {
		return err
	}
	tx.recordBy(EventPasswordSet, u, Actor{Kind: ActorSystem}, map[string]any{"sessions_ended": ended})
	return nil
}

// DeleteUser deletes the user; the database cascades the delete to their
// credential, sessions, reset tokens and everything else they own.
//
// Errors: ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, "delete user", func(tx *txn) error {
		u, err := tx.lockUser(id)
		if err != nil {
			return err
		}
		if _, err := tx.q.DeleteUser(tx.ctx, id); err != nil {
			return err
		}
		tx.recordBy(EventUserDeleted, refOf(u), Actor{Kind: ActorSystem}, nil)
		return nil
	})
}
