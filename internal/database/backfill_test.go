package database_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestBackfillEmailCanonical upgrades a database whose users were
// registered under the old rules (identity by lower(email)) and checks the
// canonical form migration 0003 gives each row: the older of two addresses
// that are now one keeps it, the newer one and an address that is no longer
// valid get a placeholder no login can reach.
func TestBackfillEmailCanonical(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		require.NoError(t, d.MigrateTo(ctx, 2))

		emails := []string{
			"Alice@Example.COM",                    // 1: plain, case folded
			"jos\u00e9@example.com",                // 2: NFC
			"jose\u0301@example.com",               // 3: NFD: the same address as 2, newer
			"bob@b\u00fccher.example",              // 4: U-label domain
			"bob@xn--bcher-kva.example",            // 5: the same mailbox as 4, newer
			"carol\u200b@example.com",              // 6: zero-width space: no longer valid
			"\uff44\uff41\uff56\uff45@example.com", // 7: fullwidth "dave"
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		for i, e := range emails {
			_, err := d.Executor().ExecContext(ctx, `INSERT INTO users (public_id, email, is_admin, created_at, updated_at)
				VALUES (?1, ?2, FALSE, ?3, ?3)`, fmt.Sprintf("00000000-0000-7000-8000-%012d", i+1), e, now)
			require.NoError(t, err, e)
		}
		require.NoError(t, d.Migrate(ctx))

		want := map[int64]string{
			1: "alice@example.com",
			2: "jos\u00e9@example.com",
			3: "unusable+3",
			4: "bob@xn--bcher-kva.example",
			5: "unusable+5",
			6: "unusable+6",
			7: "dave@example.com",
		}
		rows, err := d.SQL().QueryContext(ctx, "SELECT id, email, email_canonical FROM users ORDER BY id")
		require.NoError(t, err)
		defer rows.Close()
		got := map[int64]string{}
		for rows.Next() {
			var (
				id               int64
				email, canonical string
			)
			require.NoError(t, rows.Scan(&id, &email, &canonical))
			assert.Equal(t, emails[id-1], email, "the address as typed is kept")
			got[id] = canonical
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, want, got)

		// And down again: the old unique index comes back.
		require.NoError(t, d.MigrateTo(ctx, 2))
		require.NoError(t, d.Migrate(ctx))
	})
}
