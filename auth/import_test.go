package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// usersWithoutCredential counts users that have no credential row.
const usersWithoutCredential = `SELECT COUNT(*) FROM users LEFT JOIN credentials ON credentials.user_id = users.id
	WHERE credentials.user_id IS NULL`

// TestImportUsers imports valid rows beside every kind of invalid one, on
// every engine: the rejected rows are exactly the invalid ones, each with
// the field at fault; a row that a user registered earlier holds fails its
// batch, whose other rows are then imported one by one; no user is left
// without a credential; each import is audited as imported; plaintext and
// hashed passwords both log in. A dry run first writes nothing.
func TestImportUsers(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := auth.WithActor(context.Background(), auth.Actor{Kind: auth.ActorOS, Name: "operator"})
		policy := auth.DefaultPolicy()
		policy.RequireUsername = false
		s := newStore(t, dsn, withPolicy(policy))
		mustRegister(t, s, reg("taken"))
		hash, err := bcrypt.GenerateFromPassword([]byte("hashed-password-1"), 5)
		require.NoError(t, err)

		var rows []auth.ImportedUser
		for i := range 250 {
			r := auth.ImportedUser{Line: i + 1, Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.com", i), IsAdmin: i == 7}
			if i%2 == 0 {
				r.Password = pw(r.Username)
			} else {
				r.PasswordHash = string(hash)
			}
			rows = append(rows, r)
		}
		bad := map[int]auth.ImportedUser{ // line → row
			10:  {Email: "not an email", Password: "password-10"},
			20:  {Email: "USER0@example.com", Password: "password-20"},                      // an earlier row's email
			150: {Email: "taken@example.com", Password: "password-150"},                     // an earlier user's
			160: {Email: "short@example.com", Password: "short"},                            // too short
			170: {Email: "badhash@example.com", PasswordHash: "$2b$04$" + "x"},              // not a hash
			171: {Email: "badcost@example.com", PasswordHash: "$2b$03$" + string(hash[7:])}, // cost 3
			180: {Email: "nopass@example.com"},
			190: {Email: "both@example.com", Password: "password-190", PasswordHash: string(hash)},
		}
		want := map[int]string{10: "email", 20: "email", 150: "email", 160: "password", 170: "password_hash", 171: "password_hash", 180: "password", 190: "password"}
		for line, r := range bad {
			r.Line = line
			rows[line-1] = r
		}

		check := func(results []auth.ImportResult) int {
			t.Helper()
			require.Len(t, results, len(rows))
			imported := 0
			for i, res := range results {
				assert.Equal(t, i+1, res.Line)
				field, rejected := want[res.Line]
				if !rejected {
					assert.NoError(t, res.Err, "line %d", res.Line)
					imported++
					continue
				}
				require.Error(t, res.Err, "line %d", res.Line)
				assert.Contains(t, res.Err.Error(), field, "line %d", res.Line)
				assert.NotContains(t, res.Err.Error(), "password-", "never a password")
				assert.NotContains(t, res.Err.Error(), string(hash[7:]), "never a hash")
			}
			return imported
		}
		raw := testdb.Raw(t, dsn)

		var progress []int
		results, err := s.ImportUsers(ctx, rows, auth.ImportOptions{DryRun: true, Progress: func(done, total int) {
			assert.Equal(t, len(rows), total)
			progress = append(progress, done)
		}})
		require.NoError(t, err)
		assert.Equal(t, len(rows)-len(bad), check(results))
		for _, res := range results {
			assert.Zero(t, res.User.ID, "a dry run creates nobody")
		}
		assert.Equal(t, 1, countRows(t, raw, "users"), "a dry run writes nothing")
		assert.Equal(t, len(rows), progress[len(progress)-1])

		progress = nil
		results, err = s.ImportUsers(ctx, rows, auth.ImportOptions{BatchSize: 100, Progress: func(done, _ int) { progress = append(progress, done) }})
		require.NoError(t, err)
		imported := check(results)
		assert.Equal(t, len(rows)-len(bad), imported)
		invalid := len(bad) - 1 // line 150 is valid until the database says otherwise
		assert.Equal(t, []int{100 + invalid, 200 + invalid, 250}, progress, "after each batch, the invalid rows counted from the start")
		assert.Equal(t, 1+imported, countRows(t, raw, "users"))
		var orphans int
		require.NoError(t, raw.QueryRow(usersWithoutCredential).Scan(&orphans))
		assert.Zero(t, orphans, "no user without a credential")

		u, err := s.Login(ctx, "user0", pw("user0"))
		require.NoError(t, err)
		assert.Equal(t, results[0].User.ID, u.ID)
		u, err = s.Login(ctx, "user1@example.com", "hashed-password-1")
		require.NoError(t, err, "an imported hash logs in")
		assert.Equal(t, results[1].User.ID, u.ID)
		assert.True(t, results[7].User.IsAdmin)
		got, _ := storedHash(t, raw, results[3].User.ID)
		assert.Equal(t, string(hash), got, "the hash is stored as it came")

		events, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventUserRegistered}, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		n := 0
		for _, e := range events {
			if strings.Contains(string(e.Detail), `"imported":true`) {
				n++
				assert.Equal(t, auth.Actor{Kind: auth.ActorOS, Name: "operator"}, e.Actor)
			}
		}
		assert.Equal(t, imported, n, "one user.registered event per imported user")

		// Importing again rejects every row that was imported as a
		// duplicate, batch after batch.
		results, err = s.ImportUsers(ctx, rows[:30], auth.ImportOptions{BatchSize: 10})
		require.NoError(t, err)
		for _, res := range results {
			if _, invalid := want[res.Line]; !invalid {
				assert.ErrorIs(t, res.Err, auth.ErrDuplicate, "line %d", res.Line)
			}
		}
		assert.Equal(t, 1+imported, countRows(t, raw, "users"))
	})
}

// TestExportUsers: the export lists every user in id order, with their
// hash only when asked, across pages.
func TestExportUsers(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		policy := auth.DefaultPolicy()
		policy.RequireUsername = false
		s := newStore(t, dsn, withPolicy(policy))
		// Existing hashes: the rows are written without bcrypt, which the
		// export does not exercise (TestImportUsers hashes plaintext).
		hash, err := bcrypt.GenerateFromPassword([]byte("hashed-password-1"), bcrypt.MinCost)
		require.NoError(t, err)
		var rows []auth.ImportedUser
		for i := range 1200 { // more than one page
			rows = append(rows, auth.ImportedUser{Line: i + 1, Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: string(hash)})
		}
		_, err = s.ImportUsers(ctx, rows, auth.ImportOptions{})
		require.NoError(t, err)
		raw := testdb.Raw(t, dsn)

		for _, withHashes := range []bool{false, true} {
			var got []auth.ExportedUser
			require.NoError(t, s.ExportUsers(ctx, withHashes, func(u auth.ExportedUser) error {
				got = append(got, u)
				return nil
			}))
			require.Len(t, got, len(rows))
			for i, u := range got {
				assert.Equal(t, rows[i].Email, u.Email)
				if i > 0 {
					assert.Greater(t, u.ID, got[i-1].ID)
				}
			}
			if withHashes {
				h, _ := storedHash(t, raw, got[5].ID)
				assert.Equal(t, h, got[5].PasswordHash)
			} else {
				assert.Empty(t, got[5].PasswordHash)
			}
		}
		stop := fmt.Errorf("enough")
		n := 0
		assert.ErrorIs(t, s.ExportUsers(ctx, false, func(auth.ExportedUser) error { n++; return stop }), stop)
		assert.Equal(t, 1, n)
	})
}
