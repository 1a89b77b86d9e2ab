package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestMigrateGrantsRuntimeRole: "credstore migrate grants ROLE" names every
// table of the migrated schema, and a PostgreSQL role granted exactly what
// it prints, and no CREATE anywhere, runs the service's work: registration,
// login, a session, a password change, two-factor enrollment, tokens, the
// housekeeping purge with an audit retention, account deletion, and the
// operator's audit verify and keys rotate. docs/postgres.md's former hand
// list (5 tables of 15) failed at the first registration with "permission
// denied for table audit_chain".
func TestMigrateGrantsRuntimeRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.DSN(t, database.Postgres)
	owner := testdb.Raw(t, dsn)
	var canCreateRole bool
	require.NoError(t, owner.QueryRowContext(ctx, "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&canCreateRole))
	if !canCreateRole {
		msg := "the test role needs CREATEROLE (ALTER ROLE ... CREATEROLE) to make a least-privilege role"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	role, password := "credstore_rt_"+hex.EncodeToString(b[:]), hex.EncodeToString(b[:])+"-pw"
	exec := func(stmt string) {
		t.Helper()
		_, err := owner.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	exec("CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'")
	t.Cleanup(func() {
		for _, stmt := range []string{
			"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + role,
			"REVOKE ALL ON SCHEMA public FROM " + role,
			"DROP ROLE " + role,
		} {
			if _, err := owner.ExecContext(context.Background(), stmt); err != nil {
				t.Logf("%s: %v", stmt, err)
			}
		}
	})
	// As docs/postgres.md sets the schema up: only its owner creates.
	exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC")

	env := func(k string) string {
		if k == "CREDSTORE_DB" {
			return dsn
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, migrate(ctx, []string{"grants", role}, env, strings.NewReader(""), &stdout, &stderr), stderr.String())
	grants := stdout.String()

	// Every table of the migrated schema is named, schema_migrations
	// read-only and the append-only audit trail without UPDATE.
	rows, err := owner.QueryContext(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, len(tables), 15)
	var named []string
	for _, line := range strings.Split(grants, "\n") {
		if _, rest, ok := strings.Cut(line, ` ON TABLE "public".`); ok {
			table, _, _ := strings.Cut(rest, " ")
			named = append(named, strings.Trim(table, `"`))
		}
	}
	slices.Sort(named)
	assert.Equal(t, tables, named, grants)
	assert.Contains(t, grants, `GRANT USAGE ON SCHEMA "public" TO "`+role+`";`)
	assert.Contains(t, grants, `GRANT SELECT ON TABLE "public"."schema_migrations" TO "`+role+`";`)
	assert.Contains(t, grants, `GRANT SELECT, INSERT, DELETE ON TABLE "public"."audit_events" TO "`+role+`";`)
	assert.NotContains(t, grants, "CREATE")
	exec(grants) // the statements as printed, comment included

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	rtDSN := u.String()

	dir := t.TempDir()
	keyFile, k1 := newKey(t, dir, "k1")
	clock := testdb.NewClock(time.Now())
	store, err := auth.Open(ctx, rtDSN, auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, Now: clock.Now,
		SecretKeys: testRing(t, keyFile), AuditRetention: 24 * time.Hour,
	})
	require.NoError(t, err, "the runtime role opens the migrated database")
	defer store.Close()

	user, err := store.Register(ctx, auth.Registration{Username: "ann", Email: "ann@example.com", Password: "password-1"})
	require.NoError(t, err, "registration")
	_, err = store.Login(ctx, "ann", "password-1")
	require.NoError(t, err, "login")
	_, sess, err := store.LoginSession(ctx, "ann@example.com", "password-1")
	require.NoError(t, err, "a session")
	_, _, err = store.SessionUser(ctx, sess.Token)
	require.NoError(t, err, "the session's lookup")
	_, err = store.Login(ctx, "ann", "wrong password")
	require.ErrorIs(t, err, auth.ErrInvalidCredentials, "a failed login, counted by the throttle")
	newPassword := "password-2"
	require.NoError(t, store.ChangePassword(ctx, user.ID, "password-1", newPassword), "a password change")
	email := "ann@example.org"
	_, err = store.UpdateOwnUser(ctx, user.ID, newPassword, auth.UserUpdate{Email: &email})
	require.NoError(t, err, "an email change")
	enrollment, err := store.EnrollTOTP(ctx, user.ID)
	require.NoError(t, err, "a TOTP enrollment")
	code, err := totp.GenerateCode(enrollment.Secret, clock.Now())
	require.NoError(t, err)
	_, err = store.ConfirmTOTP(ctx, user.ID, auth.TOTPConfirmation{Code: code, Password: newPassword})
	require.NoError(t, err, "its confirmation")
	bob, err := store.Register(ctx, auth.Registration{Username: "bob", Email: "bob@example.com", Password: "password-1"})
	require.NoError(t, err)
	pair, err := store.IssueTokens(ctx, auth.LoginAttempt{Identifier: "bob", Password: "password-1"})
	require.NoError(t, err, "tokens")
	_, err = store.RefreshTokens(ctx, pair.RefreshToken)
	require.NoError(t, err, "a refresh")
	clock.Advance(25 * time.Hour)
	counts, err := store.PurgeExpired(ctx)
	require.NoError(t, err, "housekeeping")
	assert.Positive(t, counts.AuditEvents, "the audit retention deleted events")
	require.NoError(t, store.DeleteAccount(ctx, bob.ID, "password-1", ""), "an account deleted")
	_, err = store.VerifyAuditChain(ctx)
	require.NoError(t, err)
	require.NoError(t, store.Close())

	// The operator's commands, as the runtime role.
	stdout.Reset()
	stderr.Reset()
	require.Equal(t, 0, run(ctx, []string{"audit", "verify", "-db", rtDSN}, func(string) string { return "" }, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "audit chain intact")
	stdout.Reset()
	stderr.Reset()
	_, k2 := newKey(t, dir, "k2")
	rotated := filepath.Join(dir, "rotated.keys")
	writeKeys(t, rotated, k2, k1)
	require.Equal(t, 0, run(ctx, []string{"keys", "rotate", "-db", rtDSN, "-key-file", rotated}, func(string) string { return "" }, &stdout, &stderr), stderr.String())
	assert.Regexp(t, `^re-encrypted [1-9][0-9]* secrets under key k2\n`, stdout.String())
}
