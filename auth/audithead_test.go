package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestRecordedHeadAcrossPurge: a head recorded before the retention purge
// checks against the anchor when it is the last event purged, and cannot
// be checked (an error, not "intact") once it lies before it.
func TestRecordedHeadAcrossPurge(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clock := testdb.NewClock(time.Now())
		s := newStore(t, dsn, func(c *auth.Config) { c.Now = clock.Now; c.AuditRetention = 24 * time.Hour })

		empty, err := s.AuditChainHead(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(0), empty.ID)
		_, err = s.VerifyAuditChain(ctx, auth.RecordedHead(empty))
		require.NoError(t, err, "the empty chain's head, event 0")

		_, err = s.Register(ctx, auth.Registration{Username: "ann", Email: "ann@example.com", Password: "password-1"})
		require.NoError(t, err)
		first, err := s.AuditChainHead(ctx)
		require.NoError(t, err)
		_, err = s.Register(ctx, auth.Registration{Username: "bob", Email: "bob@example.com", Password: "password-1"})
		require.NoError(t, err)
		second, err := s.AuditChainHead(ctx)
		require.NoError(t, err)
		assert.Equal(t, first.ID+1, second.ID)
		round, err := auth.ParseAuditHead(second.String())
		require.NoError(t, err)
		assert.Equal(t, second, round)

		clock.Advance(25 * time.Hour)
		counts, err := s.PurgeExpired(ctx) // deletes both events, records audit.purged
		require.NoError(t, err)
		require.Equal(t, int64(2), counts.AuditEvents)

		_, err = s.VerifyAuditChain(ctx, auth.RecordedHead(second))
		assert.NoError(t, err, "the last event purged is the anchor, with its hash")
		_, err = s.VerifyAuditChain(ctx, auth.RecordedHead(first))
		var chainErr *auth.AuditChainError
		require.ErrorAs(t, err, &chainErr)
		assert.Equal(t, first.ID, chainErr.EventID)
		assert.Contains(t, chainErr.Reason, "cannot be checked")
	})
}
