package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestAuditHeadDetectsTruncation: the runtime role may delete audit events
// (for the retention purge), so it can delete the newest and set the
// chain's head back, and the chain left verifies. A head the operator
// recorded earlier (credstore audit head) catches it: audit verify -head
// fails when the chain ends before the recorded event, or holds it with
// another hash; on both engines.
func TestAuditHeadDetectsTruncation(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		store, err := auth.Open(ctx, dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
		require.NoError(t, err)
		_, err = store.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		_, err = store.Login(ctx, "alice", "wrong password")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		require.NoError(t, store.Close())

		cli := func(args ...string) (int, string, string) {
			var stdout, stderr bytes.Buffer
			code := run(ctx, append(args, "-db", dsn), func(string) string { return "" }, &stdout, &stderr)
			return code, stdout.String(), stderr.String()
		}
		code, out, errOut := cli("audit", "head")
		require.Equal(t, 0, code, errOut)
		recorded := strings.TrimSpace(out)
		head, err := auth.ParseAuditHead(recorded)
		require.NoError(t, err, out)
		assert.Equal(t, int64(2), head.ID)

		code, out, errOut = cli("audit", "verify", "-head", recorded)
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "audit chain intact: 2 events checked, ids 1 to 2\nit holds the head recorded earlier, event 2\n", out)

		// What the runtime role can do: delete the newest event and move
		// the head back to the one before it.
		raw := testdb.Raw(t, dsn)
		for _, stmt := range []string{
			"DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)",
			`UPDATE audit_chain SET last_id = (SELECT MAX(id) FROM audit_events),
				last_hash = (SELECT hash FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)) WHERE id = 1`,
		} {
			_, err := raw.ExecContext(ctx, stmt)
			require.NoError(t, err, stmt)
		}
		code, out, errOut = cli("audit", "verify")
		require.Equal(t, 0, code, "without a recorded head the truncation cannot be seen: %s", errOut)
		assert.Contains(t, out, "1 events checked")

		code, out, errOut = cli("audit", "verify", "-head", recorded)
		assert.Equal(t, 1, code, out)
		assert.Equal(t, "credstore audit verify: audit chain broken at event 2: is missing: the chain ends at event 1, before the head recorded earlier (its newest events were removed)\n", errOut)

		// An event that is there with another hash: rewritten.
		code, _, errOut = cli("audit", "verify", "-head", "1:"+strings.Repeat("ab", 32))
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "audit chain broken at event 1: does not have the hash recorded earlier")

		// Malformed heads, and -head where it means nothing.
		for _, bad := range []string{"2", "x:" + head.Hash, "-1:" + head.Hash, "2:" + strings.ToUpper(head.Hash), "2:abc"} {
			code, _, errOut = cli("audit", "verify", "-head", bad)
			assert.Equal(t, 2, code, bad)
			assert.Contains(t, errOut, "want ID:HASH", bad)
		}
		code, _, errOut = cli("audit", "-head", recorded)
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, "-head is a flag of audit verify")
	})
}
