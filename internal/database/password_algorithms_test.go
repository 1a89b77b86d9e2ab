package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

// TestPasswordAlgorithmsMigration: 0010 lets credentials hold Argon2id and
// salted Argon2id hashes besides bcrypt's, and refuses anything else; going
// down replaces the Argon2 hashes (the declared loss) with a bcrypt-shaped
// one no password matches, keeps bcrypt hashes, and keeps every user's
// credential; going up again keeps them.
func TestPasswordAlgorithmsMigration(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d := open(t, dsn)
		ex := d.Executor()
		bcryptHash := "$2a$04$" + strings.Repeat("a", 53)
		hashes := []string{
			bcryptHash,
			"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
			"$credstore-salted$cGVw$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		credential := func(n int, hash string) error {
			id, err := insertUser(ctx, ex, publicID(n), nil, strings.Repeat("u", n+1)+"@example.com", nil)
			require.NoError(t, err)
			_, err = ex.ExecContext(ctx, `INSERT INTO credentials (user_id, password_hash, password_changed_at) VALUES (?1, ?2, ?3)`, id, hash, now)
			return err
		}
		for i, h := range hashes {
			require.NoError(t, credential(i, h), "hash %d", i)
		}
		assert.Error(t, credential(len(hashes), "plaintext password"), "never a plaintext password")

		require.NoError(t, d.MigrateTo(ctx, 9))
		rows, err := ex.QueryContext(ctx, `SELECT password_hash FROM credentials ORDER BY user_id`)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var h string
			require.NoError(t, rows.Scan(&h))
			got = append(got, h)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		unusable := "$2a$12$" + strings.Repeat(".", 53)
		assert.Equal(t, []string{bcryptHash, unusable, unusable}, got)

		require.NoError(t, d.MigrateTo(ctx, 10))
		var n int
		require.NoError(t, ex.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials`).Scan(&n))
		assert.Equal(t, len(hashes), n)
	})
}
