package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestAuditCommand: an operator reads the trail of a database the service
// wrote, filters it, pages through it and verifies its chain; a tampered
// chain makes verify fail.
func TestAuditCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "credstore.db")
	store, err := auth.Open(ctx, dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	require.NoError(t, err)
	u, err := store.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
	require.NoError(t, err)
	_, err = store.Login(auth.WithClient(ctx, auth.Client{IP: "203.0.113.7", UserAgent: "curl/8"}), "alice", "wrong password")
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	_, err = store.Login(ctx, "nobody", "password typed as a username")
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	require.NoError(t, store.Close())

	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, func(string) string { return "" }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	events := func(out string) []auth.AuditEvent {
		var list []auth.AuditEvent
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e auth.AuditEvent
			require.NoError(t, json.Unmarshal([]byte(line), &e), line)
			list = append(list, e)
		}
		return list
	}

	code, out, errOut := cli("audit", "-db", dsn, "-json")
	require.Equal(t, 0, code, errOut)
	all := events(out)
	require.Len(t, all, 3)
	assert.Equal(t, auth.EventUserRegistered, all[0].Type)
	assert.Equal(t, auth.EventLoginFailed, all[1].Type)
	assert.Equal(t, u.PublicID, all[1].UserPublicID)
	assert.Equal(t, "203.0.113.7", all[1].Client.IP)
	assert.Zero(t, all[2].UserID, "the unknown identifier names no user")
	assert.NotContains(t, out, "nobody", "nor is it recorded")
	assert.NotContains(t, out, "password typed")
	assert.NotContains(t, out, "wrong password")
	assert.NotContains(t, out, "password-a")

	code, out, errOut = cli("audit", "-db", dsn, "-type", "login.failed", "-user", u.PublicID, "-json")
	require.Equal(t, 0, code, errOut)
	require.Len(t, events(out), 1)

	code, out, errOut = cli("audit", "-db", dsn, "-newest", "-limit", "2", "-json")
	require.Equal(t, 0, code, errOut)
	page := events(out)
	require.Len(t, page, 2)
	assert.Equal(t, all[2].ID, page[0].ID)
	assert.Contains(t, errOut, "-cursor 2")

	// Without -json, a table for a person to read.
	code, out, errOut = cli("audit", "-db", dsn)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^ID\s+TIME\s+TYPE\s+USER\s+ACTOR\s+CLIENT\s+DETAIL$`, lines[0])
	assert.Regexp(t, `^2\s+\S+\s+login\.failed\s+1\s+anonymous\s+203\.0\.113\.7\s+\{"device":false,"reason":"wrong_password"\}$`, lines[2])

	code, out, errOut = cli("audit", "verify", "-db", dsn)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "3 events checked")

	raw := testdb.Raw(t, dsn)
	_, err = raw.Exec("DROP TRIGGER audit_events_append_only")
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE audit_events SET client_ip = '198.51.100.1' WHERE id = 2`)
	require.NoError(t, err)
	code, _, errOut = cli("audit", "verify", "-db", dsn)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "audit chain broken at event 2")

	code, _, errOut = cli("audit", "-db", dsn, "-since", "yesterday")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "RFC 3339")
}
