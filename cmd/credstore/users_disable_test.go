package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestUsersDisableEnable: users disable asks first, ends the user's
// sessions, refuses their logins and records the reason in the audit
// trail under the OS user; users enable lets them in again; both are in
// the management log.
func TestUsersDisableEnable(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		e := newUsersEnv(t, dsn)
		code, _, errOut := e.cli(alicePassword+"\n", "users", "create", "-email", "alice@example.com", "-username", "alice", "-password-stdin")
		require.Equal(t, 0, code, errOut)
		s := e.store()
		alice, err := s.UserByEmail(ctx, "alice@example.com")
		require.NoError(t, err)
		_, _, err = s.LoginSession(ctx, "alice", alicePassword)
		require.NoError(t, err)

		code, _, _ = e.cli("", "users", "disable")
		assert.Equal(t, 2, code, "-id is required")
		code, _, errOut = e.cli("", "users", "disable", "-id", jsonID(alice.ID), "-reason", "left")
		assert.Equal(t, 1, code, "disabling without a terminal nor -yes is refused")
		assert.Contains(t, errOut, "-yes")
		code, _, errOut = e.cli("", "users", "disable", "-id", "999999", "-yes")
		assert.Equal(t, 1, code)
		assert.Equal(t, "credstore users disable: no such user\n", errOut)

		code, out, errOut := e.cli("", "users", "disable", "-id", jsonID(alice.ID), "-reason", "left the company", "-yes")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "disabled user")
		sessions, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, sessions)
		_, _, err = s.LoginSession(ctx, "alice", alicePassword)
		assert.ErrorIs(t, err, auth.ErrAccountDisabled)
		code, out, _ = e.cli("", "users", "get", "-id", jsonID(alice.ID))
		require.Equal(t, 0, code)
		assert.Contains(t, out, "disabled:")
		code, out, _ = e.cli("", "users", "disable", "-id", jsonID(alice.ID), "-yes")
		require.Equal(t, 0, code)
		assert.Contains(t, out, "disabled already")

		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventUserDisabled}})
		require.NoError(t, err)
		require.Len(t, events, 1)
		var detail map[string]any
		require.NoError(t, json.Unmarshal(events[0].Detail, &detail))
		assert.Equal(t, "left the company", detail["reason"])
		assert.Equal(t, auth.ActorOS, events[0].Actor.Kind)

		code, out, errOut = e.cli("", "users", "enable", "-id", jsonID(alice.ID))
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "enabled user")
		_, _, err = s.LoginSession(ctx, "alice", alicePassword)
		assert.NoError(t, err)
		code, out, _ = e.cli("", "users", "enable", "-id", jsonID(alice.ID))
		require.Equal(t, 0, code)
		assert.Contains(t, out, "is not disabled")

		outcomes := map[string]int{}
		for _, l := range e.logLines() {
			outcomes[l["command"].(string)+" "+l["outcome"].(string)]++
		}
		assert.Equal(t, 1, outcomes["users disable ok"])
		assert.Equal(t, 1, outcomes["users disable refused"])
		assert.Equal(t, 1, outcomes["users enable ok"])
	})
}
