package auth

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Client describes the party on the other end of a request, as far as the
// caller knows it. The HTTP layer puts it in the context of every request
// (WithClient); the store copies it into the audit events the request
// causes. Neither field is trusted for anything but the record.
type Client struct {
	IP        string `json:"ip,omitempty"` // the client's address, without a port
	UserAgent string `json:"user_agent,omitempty"`
}

// Actor is who performs an operation, as recorded in the audit trail.
type Actor struct {
	Kind ActorKind `json:"kind"`
	// UserID is the acting user's id, for ActorUser and ActorAdmin.
	UserID int64 `json:"user_id,omitempty"`
	// PublicID is the acting user's public id, in the events the store
	// returns (AuditEvents): recorded with the event, it outlives the user,
	// and is "" for events written before migration 0008. WithActor
	// ignores it: the store records the public id of UserID.
	PublicID string `json:"public_id,omitempty"`
	// Name is the operating-system user, for ActorOS ("root", "alice").
	Name string `json:"name,omitempty"`
	// SessionID, for ActorUser and ActorAdmin, is the session the actor
	// authenticated with, if they did (0 otherwise). An operation run in a
	// context whose actor has one re-asserts, first thing in its
	// transaction, what the request checked before the operation began:
	// that the session is still there and within its lifetime
	// (ErrInvalidSession otherwise), and for ActorAdmin that the user is
	// still an administrator (ErrNotAdmin otherwise). It holds the user's
	// and the session's row locks until it commits, so that no revocation,
	// logout, demotion or deletion of the actor can commit in between.
	// It is not recorded.
	SessionID int64 `json:"-"`
}

// ActorKind says what kind of party an Actor is.
type ActorKind string

// The kinds of actor.
const (
	// ActorAnonymous: an unauthenticated caller (a failed or throttled
	// login, a reset request). The default when nothing else is known.
	ActorAnonymous ActorKind = "anonymous"
	// ActorUser: a user acting on their own account (UserID).
	ActorUser ActorKind = "user"
	// ActorAdmin: an administrator acting on another account (UserID is the
	// administrator's).
	ActorAdmin ActorKind = "admin"
	// ActorSystem: the service itself (a purge, a migration).
	ActorSystem ActorKind = "system"
	// ActorOS: an operating-system user running the command line (Name).
	ActorOS ActorKind = "os"
)

type clientKey struct{}
type actorKey struct{}

// WithClient returns a context that carries c, for the audit events of the
// operations run in it.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// WithActor returns a context whose operations are recorded as done by a.
// Without it, an operation on a user's own account (registering, logging in
// or out, changing their password) is recorded as done by that user;
// unauthenticated attempts (failed and throttled logins, reset requests) as
// ActorAnonymous; administrative operations (UpdateUser, SetPassword,
// DeleteUser, granting admin at registration) and the purge as ActorSystem.
// An operation run with an invalid actor (an unknown kind; ActorUser or
// ActorAdmin without a UserID) fails with ErrInvalidActor, having written
// nothing.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// maxClientField bounds what an audit event keeps of a client's IP and user
// agent: both come from the client, which could send a megabyte.
const maxClientField = 256

// clientFrom returns the context's client, cleaned for storage: valid UTF-8
// without control characters, at most maxClientField bytes.
func clientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return Client{IP: cleanField(c.IP), UserAgent: cleanField(c.UserAgent)}
}

// actorFrom returns the context's actor; ok is false when none was set.
func actorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	if ok {
		a.Name = cleanField(a.Name)
	}
	return a, ok
}

// cleanField makes s safe to store and to show: invalid UTF-8, control
// characters, format characters (bidi overrides, zero-width joiners) and
// line and paragraph separators become U+FFFD, so that a value can neither
// split a log line nor reorder what a terminal shows; and it is cut to
// maxClientField bytes on a character boundary.
func cleanField(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	for len(s) > maxClientField {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
