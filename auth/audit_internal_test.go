package auth

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestEventFieldsBefore0008: without an actor's public id, an event's hash
// covers exactly the fields it covered before migration 0008 added the
// column, in the same order, so that the events written before it still
// verify; with one, the public id is covered too, after the actor's id.
func TestEventFieldsBefore0008(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	user, actor := sql.NullInt64{Int64: 7, Valid: true}, sql.NullInt64{Int64: 1, Valid: true}
	before := []string{"credstore audit v1", "42", "2026-01-02T03:04:05.000006Z", "password.set", "7", "pub-7", "admin", "1",
		"", "192.0.2.1", "ua", "{}", "prev"}
	assert.Equal(t, before, eventFields(42, at, "password.set", user, "pub-7", "admin", actor, "", "", "192.0.2.1", "ua", "{}", "prev"))
	after := []string{"credstore audit v1", "42", "2026-01-02T03:04:05.000006Z", "password.set", "7", "pub-7", "admin", "1", "pub-1",
		"", "192.0.2.1", "ua", "{}", "prev"}
	assert.Equal(t, after, eventFields(42, at, "password.set", user, "pub-7", "admin", actor, "pub-1", "", "192.0.2.1", "ua", "{}", "prev"))
	assert.NotEqual(t, eventHash(before), eventHash(after))
}
