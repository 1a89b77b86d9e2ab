package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestImportKeepsIdentity: an imported row keeps the public id and the
// creation time it brings (an export's), on every engine; a row without
// them gets new ones; a public id that is not one the store would make, or
// that a user or an earlier row holds, and a creation time in the future
// are rejected with the field at fault, the rows beside them imported.
func TestImportKeepsIdentity(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clock))
		existing := mustRegister(t, s, reg("existing"))
		hash, err := bcrypt.GenerateFromPassword([]byte("hashed-password-1"), bcrypt.MinCost)
		require.NoError(t, err)

		const kept = "0190a5b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"
		created := time.Date(2021, 6, 1, 12, 30, 45, 123456000, time.UTC)
		now := clock.Now().UTC().Truncate(time.Microsecond)
		row := func(line int, name string) auth.ImportedUser {
			return auth.ImportedUser{Line: line, Username: name, Email: name + "@example.com", PasswordHash: string(hash)}
		}
		rows := []auth.ImportedUser{
			row(1, "kept"), row(2, "fresh"), row(3, "notuuid"), row(4, "version4"), row(5, "again"),
			row(6, "taken"), row(7, "future"), row(8, "skewed"), row(9, "upper"),
		}
		rows[0].PublicID, rows[0].CreatedAt = kept, created.In(time.FixedZone("UTC-5", -5*60*60))
		rows[2].PublicID = "not-a-uuid"
		rows[3].PublicID = "0190a5b2-3c4d-4e5f-8a6b-7c8d9e0f1a2b" // version 4
		rows[4].PublicID = strings.ToUpper(kept)                  // line 1's, in another case
		rows[5].PublicID = existing.PublicID
		rows[6].CreatedAt = now.Add(auth.MaxClockSkew + time.Second)
		rows[7].CreatedAt = now.Add(auth.MaxClockSkew / 2) // within the skew: accepted
		rows[8].PublicID = "0190A5B2-3C4D-7E5F-8A6B-7C8D9E0F1A2C"
		want := map[int]string{3: auth.FieldPublicID, 4: auth.FieldPublicID, 5: auth.FieldPublicID, 6: auth.FieldPublicID, 7: auth.FieldCreatedAt}
		check := func(results []auth.ImportResult) {
			t.Helper()
			require.Len(t, results, len(rows))
			for _, res := range results {
				field, rejected := want[res.Line]
				switch {
				case !rejected:
					assert.NoError(t, res.Err, "line %d", res.Line)
				case res.Line == 5 || res.Line == 6:
					requireDuplicate(t, res.Err, field)
				default:
					requireValidation(t, res.Err, field)
				}
			}
		}

		results, err := s.ImportUsers(ctx, rows, auth.ImportOptions{DryRun: true})
		require.NoError(t, err)
		check(results)

		// One batch: line 6's public id, a user's, fails it in the
		// database, and its other rows are imported one by one.
		results, err = s.ImportUsers(ctx, rows, auth.ImportOptions{})
		require.NoError(t, err)
		check(results)

		u, err := s.UserByPublicID(ctx, kept)
		require.NoError(t, err, "the public id an export brought names the user")
		assert.Equal(t, "kept@example.com", u.Email)
		assert.True(t, created.Equal(u.CreatedAt), "created_at kept: %v", u.CreatedAt)
		assert.Equal(t, now, u.UpdatedAt, "updated when imported")

		fresh := results[1].User
		assert.NotEqual(t, existing.PublicID, fresh.PublicID)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, fresh.PublicID)
		assert.Equal(t, now, fresh.CreatedAt, "no created_at: created now")
		assert.Equal(t, now.Add(auth.MaxClockSkew/2), results[7].User.CreatedAt)
		assert.Equal(t, strings.ToLower(rows[8].PublicID), results[8].User.PublicID, "stored in lower case")

		// Another user with the public id an earlier import kept.
		results, err = s.ImportUsers(ctx, []auth.ImportedUser{{Line: 1, Username: "other", Email: "other@example.com", PasswordHash: string(hash), PublicID: kept}}, auth.ImportOptions{})
		require.NoError(t, err)
		requireDuplicate(t, results[0].Err, auth.FieldPublicID)
	})
}
