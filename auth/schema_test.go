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
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// insertUser is a raw INSERT into users with literal values (no
// placeholders, so the statement is the same on every engine); each field is
// a SQL literal such as 'bob' or NULL. The canonical email is lower(email),
// which is the canonical form for the plain ASCII addresses these tests use.
func insertUser(publicID, username, email, phone string) string {
	return fmt.Sprintf(`INSERT INTO users (public_id, username, email, email_canonical, phone, is_admin, created_at, updated_at)
		VALUES (%s, %s, %s, lower(%s), %s, FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, publicID, username, email, email, phone)
}

// insertCredential is a raw INSERT into credentials with literal values.
func insertCredential(userID, hash string) string {
	return fmt.Sprintf(`INSERT INTO credentials (user_id, password_hash, password_changed_at)
		VALUES (%s, %s, CURRENT_TIMESTAMP)`, userID, hash)
}

// TestDatabaseConstraints proves that the schema itself refuses what Go
// validation refuses, by writing around the auth package. Every statement
// differs from an accepted one in a single value.
func TestDatabaseConstraints(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, auth.Registration{
			Username: "alice", Email: "alice@example.com", Phone: "+15551230001", Password: pw("alice"),
		})
		require.Equal(t, int64(1), alice.ID)
		hash, err := bcrypt.GenerateFromPassword([]byte("a password"), bcrypt.MinCost)
		require.NoError(t, err)
		validHash := "'" + string(hash) + "'"
		const (
			pid1 = "'01900000-0000-7000-8000-000000000001'"
			pid2 = "'01900000-0000-7000-8000-000000000002'"
		)

		// The baseline: a raw user and their credential are accepted, so each
		// refusal below is due to the one value that differs.
		_, err = raw.ExecContext(ctx, insertUser(pid1, "'bob'", "'bob@example.com'", "'+15551230002'"))
		require.NoError(t, err, "the baseline user must be valid")
		var bobID int64
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT id FROM users WHERE username = 'bob'").Scan(&bobID))
		_, err = raw.ExecContext(ctx, insertCredential(fmt.Sprint(bobID), validHash))
		require.NoError(t, err, "the baseline credential must be valid")
		users, creds := countRows(t, raw, "users"), countRows(t, raw, "credentials")

		cases := []struct {
			name       string
			sql        string
			kind       database.ConstraintKind
			constraint string // "" for a foreign key: SQLite does not name it
		}{
			{"credential for a missing user", insertCredential("999", validHash), database.ForeignKey, ""},
			{"second credential for one user", insertCredential("1", validHash), database.Unique, "credentials_user_id_key"},
			{"credential without user", insertCredential("NULL", validHash), database.NotNull, "credentials.user_id"},
			{"credential without hash", insertCredential("1", "NULL"), database.NotNull, "credentials.password_hash"},
			{"plaintext password as hash", insertCredential(fmt.Sprint(bobID), "'hunter2!'"), database.Check, "credentials_password_hash_check"},
			{"60 characters that are not bcrypt", insertCredential(fmt.Sprint(bobID), "'"+strings.Repeat("x", 60)+"'"), database.Check, "credentials_password_hash_check"},
			{"bcrypt hash cut short", insertCredential(fmt.Sprint(bobID), validHash[:50]+"'"), database.Check, "credentials_password_hash_check"},

			{"NULL email", insertUser(pid2, "'carol'", "NULL", "NULL"), database.NotNull, "users.email"},
			{"duplicate email", insertUser(pid2, "'carol'", "'alice@example.com'", "NULL"), database.Unique, "users_email_canonical_key"},
			{"duplicate canonical email", insertUser(pid2, "'carol'", "'ALICE@Example.COM'", "NULL"), database.Unique, "users_email_canonical_key"},
			{"email without @", insertUser(pid2, "'carol'", "'carol.example.com'", "NULL"), database.Check, "users_email_check"},
			{"email starting with @", insertUser(pid2, "'carol'", "'@example.com'", "NULL"), database.Check, "users_email_check"},
			// Its canonical form is as long, and both engines check that first.
			{"email of 255 bytes", insertUser(pid2, "'carol'", "'"+strings.Repeat("c", 243)+"@example.com'", "NULL"), database.Check, "users_email_canonical_check"},
			{"duplicate username", insertUser(pid2, "'alice'", "'carol@example.com'", "NULL"), database.Unique, "users_username_key"},
			{"username with @", insertUser(pid2, "'carol@home'", "'carol@example.com'", "NULL"), database.Check, "users_username_check"},
			{"username with a space", insertUser(pid2, "'carol smith'", "'carol@example.com'", "NULL"), database.Check, "users_username_check"},
			{"empty username", insertUser(pid2, "''", "'carol@example.com'", "NULL"), database.Check, "users_username_check"},
			{"username of 65 characters", insertUser(pid2, "'"+strings.Repeat("c", 65)+"'", "'carol@example.com'", "NULL"), database.Check, "users_username_check"},
			{"duplicate phone", insertUser(pid2, "'carol'", "'carol@example.com'", "'+15551230001'"), database.Unique, "users_phone_key"},
			{"phone without +", insertUser(pid2, "'carol'", "'carol@example.com'", "'15551230003'"), database.Check, "users_phone_check"},
			{"phone with country code 0", insertUser(pid2, "'carol'", "'carol@example.com'", "'+05551230003'"), database.Check, "users_phone_check"},
			{"phone with letters", insertUser(pid2, "'carol'", "'carol@example.com'", "'+1555CALLNOW'"), database.Check, "users_phone_check"},
			{"phone with dashes", insertUser(pid2, "'carol'", "'carol@example.com'", "'+1-555-123-0003'"), database.Check, "users_phone_check"},
			{"phone of 16 digits", insertUser(pid2, "'carol'", "'carol@example.com'", "'+1555123000312345'"), database.Check, "users_phone_check"},
			{"phone of 6 digits", insertUser(pid2, "'carol'", "'carol@example.com'", "'+155512'"), database.Check, "users_phone_check"},
			{"NULL public id", insertUser("NULL", "'carol'", "'carol@example.com'", "NULL"), database.NotNull, "users.public_id"},
			{"duplicate public id", insertUser(pid1, "'carol'", "'carol@example.com'", "NULL"), database.Unique, "users_public_id_key"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// In a transaction that is rolled back, so that a statement
				// wrongly accepted cannot disturb the cases after it.
				tx, err := raw.BeginTx(ctx, nil)
				require.NoError(t, err)
				defer tx.Rollback() //nolint:errcheck // the case writes nothing to keep
				// A savepoint, because after a failed statement PostgreSQL
				// refuses every other statement of the transaction until it
				// is rolled back to one; SQLite accepts the same statements.
				_, err = tx.ExecContext(ctx, "SAVEPOINT refused")
				require.NoError(t, err)
				_, err = tx.ExecContext(ctx, tc.sql)
				require.Error(t, err, "the database must refuse it")
				_, rbErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT refused")
				require.NoError(t, rbErr)
				v, ok := database.ConstraintOf(err)
				require.True(t, ok, "not a constraint violation: %v", err)
				assert.Equal(t, tc.kind, v.Kind, "kind of %v", err)
				if tc.kind == database.ForeignKey {
					assert.Contains(t, []string{"", "credentials_user_id_fkey"}, v.Name)
				} else {
					assert.Equal(t, tc.constraint, v.Name, "constraint of %v", err)
				}
				assert.Equal(t, users, countRows(t, tx, "users"))
				assert.Equal(t, creds, countRows(t, tx, "credentials"))
			})
		}
	})
}

// TestCascadeDelete: deleting a user takes their credential with them,
// whether through the store or through raw SQL.
func TestCascadeDelete(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		carol := mustRegister(t, s, reg("carol"))
		require.Equal(t, 3, countRows(t, raw, "credentials"))

		require.NoError(t, s.DeleteUser(ctx, alice.ID))
		assert.Equal(t, 2, countRows(t, raw, "users"))
		assert.Equal(t, 2, countRows(t, raw, "credentials"))
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM credentials WHERE user_id = %d", alice.ID)).Scan(&n))
		assert.Zero(t, n, "alice's credential must be gone")
		_, err := s.User(ctx, alice.ID)
		assert.ErrorIs(t, err, auth.ErrNotFound)
		_, err = s.Login(ctx, "alice", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.ErrorIs(t, s.DeleteUser(ctx, alice.ID), auth.ErrNotFound, "a second delete finds nobody")

		// The database cascades by itself, without the store.
		_, err = raw.ExecContext(ctx, fmt.Sprintf("DELETE FROM users WHERE id = %d", bob.ID))
		require.NoError(t, err)
		assert.Equal(t, 1, countRows(t, raw, "credentials"))

		// The others are untouched.
		_, err = s.Login(ctx, "carol", pw("carol"))
		assert.NoError(t, err)
		assert.Equal(t, carol.ID, mustUser(t, s, carol.ID).ID)

		// An id that never existed.
		assert.ErrorIs(t, s.DeleteUser(ctx, 999), auth.ErrNotFound)
		assert.ErrorIs(t, s.DeleteUser(ctx, 0), auth.ErrNotFound)
		assert.ErrorIs(t, s.DeleteUser(ctx, -1), auth.ErrNotFound)
	})
}

// mustUser gets a user by id.
func mustUser(t *testing.T, s *auth.Store, id int64) auth.User {
	t.Helper()
	u, err := s.User(context.Background(), id)
	require.NoError(t, err)
	return u
}
