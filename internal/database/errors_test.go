package database

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSqliteConstraintName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		kind ConstraintKind
		msg  string
		want string
	}{
		{"unique column, as modernc reports it", Unique, "constraint failed: UNIQUE constraint failed: users.username (2067)", "users_username_key"},
		{"unique column, bare", Unique, "UNIQUE constraint failed: users.username", "users_username_key"},
		{"unique columns", Unique, "constraint failed: UNIQUE constraint failed: t.a, t.b (2067)", "t_a_b_key"},
		{"unique index", Unique, "constraint failed: UNIQUE constraint failed: index 'users_email_lower_key' (2067)", "users_email_lower_key"},
		{"unique index, bare", Unique, "UNIQUE constraint failed: index 'users_email_lower_key'", "users_email_lower_key"},
		{"primary key", Unique, "constraint failed: UNIQUE constraint failed: users.id (1555)", "users_id_key"},
		{"check", Check, "constraint failed: CHECK constraint failed: users_phone_check (275)", "users_phone_check"},
		{"check, bare", Check, "CHECK constraint failed: users_phone_check", "users_phone_check"},
		{"not null", NotNull, "constraint failed: NOT NULL constraint failed: users.email (1299)", "users.email"},
		{"foreign key", ForeignKey, "constraint failed: FOREIGN KEY constraint failed (787)", ""},
		{"no detail", Check, "constraint failed", ""},
		{"empty", Unique, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, sqliteConstraintName(tc.kind, tc.msg))
		})
	}
}

// TestConstraintOf triggers each kind of violation in a real database and
// reads it back through ConstraintOf, wrapped as callers wrap it.
func TestConstraintOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	_, err := d.SQL().ExecContext(ctx, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE t (
			a INTEGER,
			b INTEGER,
			c TEXT NOT NULL,
			d INTEGER CONSTRAINT t_d_check CHECK (d > 0),
			p INTEGER CONSTRAINT t_p_fkey REFERENCES parent (id),
			u TEXT CONSTRAINT t_u_key UNIQUE,
			CONSTRAINT t_a_b_key UNIQUE (a, b)
		);
		CREATE UNIQUE INDEX t_lower_c_key ON t (lower(c));
		INSERT INTO parent (id) VALUES (1);
		INSERT INTO t (a, b, c, d, p, u) VALUES (1, 1, 'x', 1, 1, 'u');`)
	require.NoError(t, err)

	cases := []struct {
		name string
		sql  string
		want Violation
	}{
		{"unique column", "INSERT INTO t (a, b, c, u) VALUES (2, 2, 'y', 'u')", Violation{Unique, "t_u_key"}},
		{"unique columns", "INSERT INTO t (a, b, c) VALUES (1, 1, 'y')", Violation{Unique, "t_a_b_key"}},
		{"unique expression index", "INSERT INTO t (a, b, c) VALUES (3, 3, 'X')", Violation{Unique, "t_lower_c_key"}},
		{"primary key", "INSERT INTO parent (id) VALUES (1)", Violation{Unique, "parent_id_key"}},
		{"check", "INSERT INTO t (c, d) VALUES ('z', 0)", Violation{Check, "t_d_check"}},
		{"not null", "INSERT INTO t (a) VALUES (9)", Violation{NotNull, "t.c"}},
		{"foreign key", "INSERT INTO t (c, p) VALUES ('z', 2)", Violation{ForeignKey, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.SQL().ExecContext(ctx, tc.sql)
			require.Error(t, err)
			v, ok := ConstraintOf(fmt.Errorf("insert: %w", err))
			require.True(t, ok, "not recognised: %v", err)
			assert.Equal(t, tc.want, v, "from %v", err)
		})
	}

	t.Run("not a constraint", func(t *testing.T) {
		_, err := d.SQL().ExecContext(ctx, "INSERT INTO nosuchtable VALUES (1)")
		require.Error(t, err)
		_, ok := ConstraintOf(err)
		assert.False(t, ok)
		_, ok = ConstraintOf(errors.New("UNIQUE constraint failed: users.username"))
		assert.False(t, ok, "the message alone is not a violation: the code decides")
		_, ok = ConstraintOf(nil)
		assert.False(t, ok)
	})
}

func TestConstraintKindString(t *testing.T) {
	t.Parallel()
	for kind, want := range map[ConstraintKind]string{
		Unique: "unique", ForeignKey: "foreign key", Check: "check", NotNull: "not null", 0: "unknown",
	} {
		assert.Equal(t, want, kind.String())
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"40P01": true,  // deadlock_detected
		"40001": true,  // serialization_failure
		"23505": false, // unique_violation
		"55P03": false, // lock_not_available: lock_timeout, not worth running again
		"57014": false, // query_canceled: statement_timeout
		"40002": false, // integrity constraint violation at commit
	} {
		pe := &pgconn.PgError{Code: code}
		assert.Equal(t, want, retryable(pe), code)
		assert.Equal(t, want, retryable(fmt.Errorf("update: %w", pe)), "%s, wrapped", code)
		assert.Equal(t, code, SQLState(fmt.Errorf("update: %w", pe)))
	}
	assert.False(t, retryable(nil))
	assert.False(t, retryable(errors.New("deadlock detected")), "the code decides, not the message")
	assert.Empty(t, SQLState(errors.New("x")))
}
