package database

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossless are the down files that remove tables or columns without
// declaring a loss, and why going up again gives everything back.
var lossless = map[string]string{
	"session_cache":         "auth_changes only counts changes, for caches to notice them; up starts it again",
	"audit_actor_public_id": "the actors' public ids wait in audit_actor_public_id_stash for the up file",
}

// TestDownFilesDeclareDrops: every down file that drops a table or a
// column or deletes rows says what it destroys (-- credstore:drops, which
// the migrate command shows before it asks), unless lossless says why
// nothing is lost; both engines declare the same; and Migrations reports
// it.
func TestDownFilesDeclareDrops(t *testing.T) {
	t.Parallel()
	byEngine := map[Engine][]migration{}
	for _, e := range []Engine{SQLite, Postgres} {
		ms, err := migrations(e)
		require.NoError(t, err)
		byEngine[e] = ms
		for _, m := range ms {
			if !destroys(m.Down) {
				assert.Empty(t, m.Drops, "%s %d_%s declares a loss it does not cause", e, m.Version, m.Name)
				continue
			}
			if why, ok := lossless[m.Name]; ok {
				assert.Empty(t, m.Drops, "%s %d_%s: lossless (%s), yet declares a loss", e, m.Version, m.Name, why)
				continue
			}
			assert.NotEmpty(t, m.Drops, "%s %d_%s.down.sql destroys data without a %q line saying what", e, m.Version, m.Name, dropsMarker)
		}
	}
	require.Len(t, byEngine[Postgres], len(byEngine[SQLite]))
	for i, m := range byEngine[SQLite] {
		assert.Equal(t, m.Drops, byEngine[Postgres][i].Drops, "%d_%s declares the same on both engines", m.Version, m.Name)
		assert.Equal(t, m.Notes, byEngine[Postgres][i].Notes, "%d_%s notes the same on both engines", m.Version, m.Name)
	}

	d, err := OpenMemory(t.Context())
	require.NoError(t, err)
	defer d.Close()
	states, err := d.Migrations(t.Context())
	require.NoError(t, err)
	for i, s := range states {
		assert.Equal(t, byEngine[SQLite][i].Drops, s.Drops, "Migrations reports %d_%s's drops", s.Version, s.Name)
		assert.Equal(t, byEngine[SQLite][i].Notes, s.Notes, "Migrations reports %d_%s's notes", s.Version, s.Name)
	}
	assert.Equal(t, []string{"every user and their password"}, states[0].Drops)
	assert.NotEmpty(t, states[7].Notes, "0008 says what a release without it makes of the trail")
}

// destroys reports whether a down file's SQL drops a table (other than a
// stash), drops a column, deletes rows or overwrites them.
func destroys(down string) bool {
	for _, line := range strings.Split(down, "\n") {
		l := strings.ToUpper(strings.TrimSpace(line))
		if strings.HasPrefix(l, "--") {
			continue
		}
		if strings.Contains(l, "DROP TABLE") && !strings.Contains(l, "_STASH") ||
			strings.Contains(l, "DROP COLUMN") || strings.Contains(l, "DELETE FROM") ||
			strings.HasPrefix(l, "UPDATE ") { // an overwrite: what it replaced is gone
			return true
		}
	}
	return false
}

func TestMarkerLines(t *testing.T) {
	t.Parallel()
	down := "-- credstore:drops every session: everyone is signed out \n" +
		"  -- credstore:drops the audit trail\n" +
		"-- credstore:dropsnothing\n" +
		"DROP TABLE sessions; -- credstore:drops not at the start of a line\n"
	assert.Equal(t, []string{"every session: everyone is signed out", "the audit trail"}, markerLines(down, dropsMarker))
	assert.Empty(t, markerLines("DROP TABLE x;\n", dropsMarker))
}
