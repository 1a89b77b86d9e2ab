package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestActorPublicIDsSurviveRollback: rolling 0008 back keeps the actors'
// public ids aside, and migrating up again puts each back into the very
// event it came from, matched by id and hash: an event that a release
// without 0008 deleted and wrote again under the same id (a trail rebuilt)
// gets nothing. Nothing of the stash is left, on either engine.
func TestActorPublicIDsSurviveRollback(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d := open(t, dsn)
		ex := d.Executor()
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		// 0009 (disabled accounts) touches only users, 0010 (password
		// algorithms) only credentials; MigrateTo(7) rolls them back on the
		// way.
		require.Equal(t, 10, latest, "update this test for the migration after 0010")
		hash := func(c string) string { return strings.Repeat(c, 64) }
		insert := func(id int64, actorPublicID, h string) {
			t.Helper()
			cols, vals := "", ""
			args := []any{id, time.Now().UTC(), hash("0"), h}
			if actorPublicID != "-" {
				cols, vals = ", actor_public_id", ", ?5"
				args = append(args, actorPublicID)
			}
			_, err := ex.ExecContext(ctx, `INSERT INTO audit_events (id, occurred_at, type, actor_kind, prev_hash, hash`+cols+`)
				VALUES (?1, ?2, 'user.updated', 'admin', ?3, ?4`+vals+`)`, args...)
			require.NoError(t, err)
		}
		insert(1, publicID(1), hash("1"))
		insert(2, "", hash("2"))
		insert(3, publicID(3), hash("3"))

		require.NoError(t, d.MigrateTo(ctx, 7))
		// A release without 0008 deletes event 3 and writes another under
		// its id (no actor_public_id column: "-").
		_, err = ex.ExecContext(ctx, "DELETE FROM audit_events WHERE id = 3")
		require.NoError(t, err)
		insert(3, "-", hash("4"))
		insert(4, "-", hash("5"))

		require.NoError(t, d.Migrate(ctx))
		got := map[int64]string{}
		rows, err := ex.QueryContext(ctx, "SELECT id, actor_public_id FROM audit_events ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var p string
			require.NoError(t, rows.Scan(&id, &p))
			got[id] = p
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		assert.Equal(t, map[int64]string{1: publicID(1), 2: "", 3: "", 4: ""}, got)

		var stashes int
		stashQuery := "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%stash%'"
		if d.Engine() == database.Postgres {
			stashQuery = "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%stash%'"
		}
		require.NoError(t, ex.QueryRowContext(ctx, stashQuery).Scan(&stashes))
		assert.Zero(t, stashes, "the stash is gone")
		_, err = ex.ExecContext(ctx, "UPDATE audit_events SET actor_public_id = 'x' WHERE id = 1")
		assert.ErrorContains(t, err, "append-only", "the trigger is back")
	})
}
