package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestMigrateDownUpKeepsData rolls a store with data back one more step at
// a time (latest-1, then latest-2, ... 0) and migrates it up again after
// each: the audit trail verifies after every round trip, on both engines,
// and until a step that declares what it drops (MigrationState.Drops) has
// been rolled back, nothing is lost: the same users, and the same audit
// events with every field, the actors' public ids included.
func TestMigrateDownUpKeepsData(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s, err := auth.Open(ctx, dsn, testConfig())
		require.NoError(t, err)
		root := mustRegister(t, s, reg("root"))
		_, err = s.UpdateUser(ctx, root.ID, auth.UserUpdate{IsAdmin: ptr(true)})
		require.NoError(t, err)
		alice := mustRegister(t, s, reg("alice"))
		_, sess, err := s.LoginSession(ctx, "root", pw("root"))
		require.NoError(t, err)
		admin := auth.WithActor(ctx, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID, SessionID: sess.ID})
		require.NoError(t, s.SetPassword(admin, alice.ID, "password-set-1"))
		users, events := snapshot(t, s)
		require.NoError(t, s.Close())
		actorIDs := 0
		for _, e := range events {
			if e.Actor.PublicID == root.PublicID {
				actorIDs++
			}
		}
		require.Positive(t, actorIDs, "an event names its acting administrator by public id")

		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		defer d.Close()
		ms, err := d.Migrations(ctx)
		require.NoError(t, err)
		latest := len(ms)
		var dropped []string // what the steps rolled back so far declare
		for v := latest - 1; v >= 0; v-- {
			require.NoError(t, d.MigrateTo(ctx, v), "down to %d", v)
			dropped = append(dropped, ms[v].Drops...)
			require.NoError(t, d.Migrate(ctx), "up again from %d", v)

			s, err := auth.OpenExisting(ctx, dsn, testConfig())
			require.NoError(t, err)
			_, err = s.VerifyAuditChain(ctx)
			assert.NoError(t, err, "the audit trail verifies after a round trip to version %d", v)
			if len(dropped) == 0 {
				gotUsers, gotEvents := snapshot(t, s)
				assert.Equal(t, users, gotUsers, "a round trip to version %d keeps the users", v)
				assert.Equal(t, events, gotEvents, "a round trip to version %d keeps the audit events", v)
			}
			require.NoError(t, s.Close())
		}
		assert.NotEmpty(t, dropped, "the steps that lose data say so")
	})
}

// snapshot reads every user and every audit event of s.
func snapshot(t *testing.T, s *auth.Store) ([]auth.User, []auth.AuditEvent) {
	t.Helper()
	ctx := context.Background()
	users, err := s.ListUsers(ctx, auth.ListOptions{Limit: 1000})
	require.NoError(t, err)
	events, err := s.AuditEvents(ctx, auth.AuditFilter{Limit: auth.MaxPageSize})
	require.NoError(t, err)
	require.Less(t, len(events), auth.MaxPageSize, "one page holds them all")
	return users, events
}
