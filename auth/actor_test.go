package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestActorReasserted: a write done for an actor who authenticated with a
// session (Actor.SessionID) checks again, in its transaction, what the
// request checked before it began. Whatever ended in between (the session
// revoked or logged out, the administrator demoted or deleted), the write
// is refused with its typed error, and nothing of it is written or
// audited. With everything still in place it goes through, also when it
// ends the actor's own session or account.
func TestActorReasserted(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		root := mustRegister(t, s, reg("root"))
		_, err := s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(true)})
		require.NoError(t, err)
		alice := mustRegister(t, s, reg("alice"))
		login := func(name string) auth.Session {
			_, sess, err := s.LoginSession(ctx, name, pw(name))
			require.NoError(t, err)
			return sess
		}
		as := func(kind auth.ActorKind, u auth.User, sess auth.Session) context.Context {
			return auth.WithActor(ctx, auth.Actor{Kind: kind, UserID: u.ID, SessionID: sess.ID})
		}
		password := pw("alice")
		setPassword := func(actx context.Context) error {
			err := s.SetPassword(actx, alice.ID, "password-set-1")
			if err == nil {
				password = "password-set-1"
			}
			return err
		}
		refused := func(actx context.Context, want error, what string) {
			t.Helper()
			before := lastEventID(t, s)
			assert.ErrorIs(t, setPassword(actx), want, what)
			assert.Equal(t, before, lastEventID(t, s), "%s: nothing audited", what)
			_, err := s.Login(ctx, "alice", password)
			assert.NoError(t, err, "%s: the password is unchanged", what)
		}

		// The administrator's session ends: by revocation, by logout.
		sess := login("root")
		admin := as(auth.ActorAdmin, root, sess)
		require.NoError(t, s.RevokeSession(ctx, root.ID, sess.ID))
		refused(admin, auth.ErrInvalidSession, "revoked session")
		sess = login("root")
		admin = as(auth.ActorAdmin, root, sess)
		require.NoError(t, s.DestroySession(ctx, sess.Token))
		refused(admin, auth.ErrInvalidSession, "logged out")

		// The administrator is demoted.
		sess = login("root")
		admin = as(auth.ActorAdmin, root, sess)
		_, err = s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(false)})
		require.NoError(t, err)
		refused(admin, auth.ErrNotAdmin, "demoted")
		_, err = s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(true)})
		require.NoError(t, err)

		// Still an administrator, with a live session: done, and recorded as
		// the administrator's.
		require.NoError(t, setPassword(admin))
		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, NewestFirst: true, Limit: 1})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.Equal(t, auth.EventPasswordSet, events[0].Type)
		assert.Equal(t, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID, PublicID: root.PublicID}, events[0].Actor, "the session is not recorded")

		// A user's own writes: refused once the session is gone, done while
		// it lives, even the one that ends it.
		bob := mustRegister(t, s, reg("bob"))
		bobs := login("bob")
		other := login("bob")
		user := as(auth.ActorUser, bob, bobs)
		require.NoError(t, s.RevokeSession(ctx, bob.ID, bobs.ID))
		_, err = s.RevokeOtherSessions(user, bob.ID, bobs.ID)
		assert.ErrorIs(t, err, auth.ErrInvalidSession)
		_, _, err = s.SessionUser(ctx, other.Token)
		assert.NoError(t, err, "the refused revocation ended nothing")
		bobs = login("bob")
		user = as(auth.ActorUser, bob, bobs)
		_, err = s.UpdateUser(user, bob.ID, auth.UserUpdate{Username: ptr("bobby")})
		require.NoError(t, err)
		events, err = s.AuditEvents(ctx, auth.AuditFilter{UserID: bob.ID, NewestFirst: true, Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, auth.Actor{Kind: auth.ActorUser, UserID: bob.ID, PublicID: bob.PublicID}, events[0].Actor, "the user's own change, not the system's")
		require.NoError(t, s.RevokeSession(user, bob.ID, bobs.ID), "a logout ends the session it is made through")

		// An administrator deleting their own account; then their session
		// is gone with them.
		sess = login("root")
		admin = as(auth.ActorAdmin, root, sess)
		require.NoError(t, s.DeleteUser(admin, root.ID))
		refused(admin, auth.ErrInvalidSession, "deleted")
	})
}

// TestDemotionRacesAdminWrite: an administrator's write races their
// demotion. Either the write commits first, and its audit event comes
// before the demotion's, or it is refused with ErrNotAdmin: it never
// commits after a demotion that committed while it ran.
func TestDemotionRacesAdminWrite(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		root := mustRegister(t, s, reg("root"))
		alice := mustRegister(t, s, reg("alice"))
		outcomes := map[bool]int{}
		for round := range 20 {
			_, err := s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(true)})
			require.NoError(t, err)
			_, sess, err := s.LoginSession(ctx, "root", pw("root"))
			require.NoError(t, err)
			admin := auth.WithActor(ctx, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID, SessionID: sess.ID})
			var wg sync.WaitGroup
			var writeErr error
			start := make(chan struct{})
			wg.Go(func() {
				<-start
				_, writeErr = s.UpdateUser(admin, alice.ID, auth.UserUpdate{Phone: ptr(fmt.Sprintf("+3361234%04d", round))})
			})
			close(start)
			_, err = s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(false)})
			require.NoError(t, err)
			wg.Wait()
			demoted := lastEventOf(t, s, root.ID)
			if errors.Is(writeErr, auth.ErrNotAdmin) || errors.Is(writeErr, auth.ErrInvalidSession) {
				outcomes[false]++
				continue
			}
			require.NoError(t, writeErr, "round %d", round)
			outcomes[true]++
			assert.Less(t, lastEventOf(t, s, alice.ID), demoted, "round %d: the write committed after the demotion", round)
		}
		t.Logf("of 20 rounds, %d writes committed first and %d were refused", outcomes[true], outcomes[false])
	})
}

// lastEventID is the id of the newest audit event, 0 when there is none.
func lastEventID(t *testing.T, s *auth.Store) int64 {
	t.Helper()
	return lastEventOf(t, s, 0)
}

// lastEventOf is the id of the newest audit event about the user (any
// user when id is 0).
func lastEventOf(t *testing.T, s *auth.Store, id int64) int64 {
	t.Helper()
	events, err := s.AuditEvents(context.Background(), auth.AuditFilter{UserID: id, NewestFirst: true, Limit: 1})
	require.NoError(t, err)
	if len(events) == 0 {
		return 0
	}
	return events[0].ID
}
