package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
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

func TestMain(m *testing.M) {
	allowLowBcryptCost = true // bcrypt at cost 4; the pty test's binary hashes at 12
	os.Exit(m.Run())
}

// usersEnv is one test's database, key file, log file and backup
// directory, given to the commands through their environment twins.
type usersEnv struct {
	t      *testing.T
	dsn    string
	env    map[string]string
	logs   string
	backup string
	ring   *auth.Keyring
}

func newUsersEnv(t *testing.T, dsn string) *usersEnv {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "totp.keys")
	require.NoError(t, auth.CreateKeyFile(keys, "k1", rand.Reader))
	ring, err := auth.ReadKeyFile(keys)
	require.NoError(t, err)
	e := &usersEnv{t: t, dsn: dsn, logs: filepath.Join(dir, "logs", "users.log"), backup: filepath.Join(dir, "backups"), ring: ring}
	e.env = map[string]string{
		"CREDSTORE_DB": dsn, "CREDSTORE_KEY_FILE": keys, "CREDSTORE_BCRYPT_COST": "4",
		"CREDSTORE_USERS_LOG": e.logs, "CREDSTORE_BACKUP_DIR": e.backup,
	}
	return e
}

// cli runs credstore with stdin (not a terminal) and returns its exit
// status and output.
func (e *usersEnv) cli(stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := runIO(context.Background(), args, func(k string) string { return e.env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// store opens the test's database beside the commands, as the service would.
func (e *usersEnv) store() *auth.Store {
	e.t.Helper()
	s, err := auth.Open(context.Background(), e.dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: e.ring})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	return s
}

// logLines reads the management log.
func (e *usersEnv) logLines() []map[string]any {
	e.t.Helper()
	data, err := os.ReadFile(e.logs)
	require.NoError(e.t, err)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		require.NoError(e.t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

const (
	alicePassword = "correct horse 42 battery"
	newPassword   = "a fresh password 77"
)

// TestUsersCommands drives every users subcommand on each engine, as an
// operator would: create, list, get, update, sessions, revoke-sessions,
// remove-2fa and delete, with their failures and what they record.
func TestUsersCommands(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		e := newUsersEnv(t, dsn)
		pg := database.IsPostgres(dsn)
		osUser := osUserName(os.Getenv)

		// create
		code, out, errOut := e.cli(alicePassword+"\n", "users", "create", "-email", "alice@example.com", "-username", "alice", "-password-stdin")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "alice@example.com")
		assert.NotContains(t, out+errOut, alicePassword)
		assert.NotContains(t, out, "$2", "never a hash")

		code, _, errOut = e.cli("a password 1234\n", "users", "create", "-email", "root@example.com", "-admin", "-password-stdin")
		assert.Equal(t, 1, code, "granting admin without a terminal nor -yes is refused")
		assert.Contains(t, errOut, "-yes")
		code, _, errOut = e.cli("root password 1234\n", "users", "create", "-email", "root@example.com", "-admin", "-password-stdin", "-yes")
		require.Equal(t, 0, code, errOut)

		code, _, errOut = e.cli("another password 99\n", "users", "create", "-email", "ALICE@example.com", "-password-stdin")
		assert.Equal(t, 1, code)
		assert.Equal(t, "credstore users create: email already belongs to another user\n", errOut)

		code, _, errOut = e.cli("short\n", "users", "create", "-email", "not an address", "-phone", "12", "-password-stdin")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "invalid email:")
		assert.Contains(t, errOut, "invalid phone:")
		assert.Contains(t, errOut, "invalid password:")
		assert.NotContains(t, errOut, "short\n")

		code, _, _ = e.cli("", "users", "create", "-password-stdin")
		assert.Equal(t, 2, code, "-email is required")

		// list
		code, out, errOut = e.cli("", "users", "list")
		require.Equal(t, 0, code, errOut)
		assert.Regexp(t, `(?m)^ID\s+PUBLIC ID`, out)
		assert.Contains(t, out, "alice@example.com")
		assert.Contains(t, out, "root@example.com")

		code, out, errOut = e.cli("", "users", "list", "-json")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 2)
		var alice, root userView
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &alice))
		require.NoError(t, json.Unmarshal([]byte(lines[1]), &root))
		assert.Equal(t, "alice", alice.Username)
		assert.True(t, root.IsAdmin)
		assert.NotContains(t, out, "hash")

		code, out, errOut = e.cli("", "users", "list", "-json", "-limit", "1")
		require.Equal(t, 0, code)
		assert.Equal(t, 1, strings.Count(out, "\n"))
		assert.Contains(t, errOut, "more users: -after ")
		code, out, _ = e.cli("", "users", "list", "-json", "-after", jsonID(alice.ID))
		require.Equal(t, 0, code)
		assert.Contains(t, out, "root@example.com")
		assert.NotContains(t, out, "alice@example.com")

		code, out, errOut = e.cli("", "users", "list", "-admins", "-json", "-limit", "1")
		require.Equal(t, 0, code)
		assert.Equal(t, 1, strings.Count(out, "\n"))
		assert.Contains(t, out, "root@example.com")
		assert.NotContains(t, errOut, "more users", "root is the last administrator")
		code, out, _ = e.cli("", "users", "list", "-json", "-search", "ROOT@")
		require.Equal(t, 0, code)
		assert.Equal(t, 1, strings.Count(out, "\n"))
		assert.Contains(t, out, "root@example.com")
		code, out, errOut = e.cli("", "users", "list", "-json", "-limit", "2")
		require.Equal(t, 0, code)
		assert.Equal(t, 2, strings.Count(out, "\n"))
		assert.NotContains(t, errOut, "more users", "a full last page has no next one")

		code, _, _ = e.cli("", "users", "list", "-limit", "0")
		assert.Equal(t, 2, code)

		// get, by every selector
		s := e.store()
		sess, err := s.CreateSession(context.Background(), alice.ID)
		require.NoError(t, err)
		for _, sel := range [][]string{{"-id", jsonID(alice.ID)}, {"-public-id", alice.PublicID}, {"-username", "alice"}, {"-email", "Alice@Example.com"}} {
			code, out, errOut = e.cli("", append([]string{"users", "get", "-json"}, sel...)...)
			require.Equal(t, 0, code, "%v: %s", sel, errOut)
			var got struct {
				User      userView `json:"user"`
				TwoFactor struct {
					Enabled bool `json:"enabled"`
				} `json:"two_factor"`
				Sessions []sessionView `json:"sessions"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, alice.ID, got.User.ID, sel)
			assert.False(t, got.TwoFactor.Enabled)
			require.Len(t, got.Sessions, 1)
			assert.Equal(t, sess.ID, got.Sessions[0].ID)
			assert.NotContains(t, out, sess.Token)
		}
		code, out, _ = e.cli("", "users", "get", "-username", "alice")
		require.Equal(t, 0, code)
		assert.Contains(t, out, "two-factor: off")
		assert.Contains(t, out, "live sessions: 1")
		for _, bad := range [][]string{{}, {"-id", "1", "-email", "alice@example.com"}, {"-username", "alice", "-public-id", alice.PublicID}} {
			code, _, errOut = e.cli("", append([]string{"users", "get"}, bad...)...)
			assert.Equal(t, 2, code, bad)
			assert.Contains(t, errOut, "exactly one of -id, -public-id, -username, -email")
		}
		code, _, errOut = e.cli("", "users", "get", "-email", "nobody@example.com")
		assert.Equal(t, 1, code)
		assert.Equal(t, "credstore users get: no such user\n", errOut)

		// sessions, revoke-sessions
		code, out, _ = e.cli("", "users", "sessions", "-id", jsonID(alice.ID), "-json")
		require.Equal(t, 0, code)
		assert.Equal(t, 1, strings.Count(out, "\n"))
		code, out, errOut = e.cli("", "users", "revoke-sessions", "-id", jsonID(alice.ID))
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "ended 1 sessions")
		list, err := s.ListSessions(context.Background(), alice.ID)
		require.NoError(t, err)
		assert.Empty(t, list)

		// update: fields only, then the ones that need a confirmation and a backup
		code, out, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-phone", "+15551234567", "-username", "alice2")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "+15551234567")
		assert.Contains(t, out, "alice2")
		code, _, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-email", "root@example.com")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "email already belongs to another user")
		code, _, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-username", "a b")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "invalid username:")
		// A refused password leaves the other fields as they were.
		code, _, errOut = e.cli("short\n", "users", "update", "-id", jsonID(alice.ID), "-phone", "+15550000000",
			"-password", "-password-stdin", "-yes", "-no-backup")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "invalid password:")
		if u, err := s.User(context.Background(), alice.ID); assert.NoError(t, err) {
			assert.Equal(t, "+15551234567", u.Phone, "nothing was written")
		}
		code, _, _ = e.cli("", "users", "update", "-id", jsonID(alice.ID))
		assert.Equal(t, 2, code, "nothing to update")
		code, _, _ = e.cli("", "users", "update", "-username", "x")
		assert.Equal(t, 2, code, "no -id")

		code, _, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-admin=true")
		assert.Equal(t, 1, code, "no terminal, no -yes")
		assert.Contains(t, errOut, "not a terminal")
		if _, err := exec.LookPath("pg_dump"); pg && err != nil {
			code, _, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-admin=true", "-yes")
			assert.Equal(t, 1, code, "PostgreSQL without pg_dump: no backup, no change")
			assert.Contains(t, errOut, "pg_dump --format=custom --file=")
			assert.NotContains(t, errOut, "credstore:credstore@", "never the password")
			u, err := s.User(context.Background(), alice.ID)
			require.NoError(t, err)
			assert.False(t, u.IsAdmin)
			code, out, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-admin=true", "-yes", "-no-backup")
			require.Equal(t, 0, code, errOut)
		} else {
			code, out, errOut = e.cli("", "users", "update", "-id", jsonID(alice.ID), "-admin=true", "-yes")
			require.Equal(t, 0, code, errOut)
			checkBackup(t, out, e.backup, dsn, "alice@example.com")
		}
		assert.Regexp(t, `admin:\s+yes`, out)

		code, out, errOut = e.cli(newPassword+"\n", "users", "update", "-id", jsonID(alice.ID), "-password", "-password-stdin", "-no-backup")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "password set")
		_, err = s.Login(context.Background(), "alice@example.com", newPassword)
		require.NoError(t, err)
		code, _, errOut = e.cli("short1\n", "users", "update", "-id", jsonID(alice.ID), "-password", "-password-stdin", "-no-backup")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "invalid password:")

		// remove-2fa
		code, _, errOut = e.cli("", "users", "remove-2fa", "-id", jsonID(alice.ID), "-yes", "-no-backup")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "no second factor")
		enrollment, err := s.EnrollTOTP(context.Background(), alice.ID)
		require.NoError(t, err)
		totpCode, err := totp.GenerateCode(enrollment.Secret, time.Now())
		require.NoError(t, err)
		_, err = s.ConfirmTOTP(context.Background(), alice.ID, auth.TOTPConfirmation{Code: totpCode, Password: newPassword})
		require.NoError(t, err)
		code, out, _ = e.cli("", "users", "get", "-id", jsonID(alice.ID))
		require.Equal(t, 0, code)
		assert.Contains(t, out, "two-factor: on, 10 recovery codes left")
		code, _, _ = e.cli("", "users", "remove-2fa", "-id", jsonID(alice.ID))
		assert.Equal(t, 1, code, "no terminal, no -yes")
		code, _, errOut = e.cli("", "users", "remove-2fa", "-id", jsonID(alice.ID), "-yes", "-no-backup")
		require.Equal(t, 0, code, errOut)
		tf, err := s.TwoFactor(context.Background(), alice.ID)
		require.NoError(t, err)
		assert.False(t, tf.TOTPEnabled)

		// delete
		code, _, _ = e.cli("", "users", "delete", "-id", jsonID(alice.ID))
		assert.Equal(t, 1, code, "no terminal, no -yes")
		code, out, errOut = e.cli("", "users", "delete", "-id", jsonID(alice.ID), "-yes")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "deleted user")
		checkBackup(t, out, e.backup, dsn, "alice@example.com")
		_, err = s.User(context.Background(), alice.ID)
		require.ErrorIs(t, err, auth.ErrNotFound)
		code, _, errOut = e.cli("", "users", "delete", "-id", jsonID(alice.ID), "-yes", "-no-backup")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "no such user")

		// The audit trail names the OS user for every change made here.
		events, err := s.AuditEvents(context.Background(), auth.AuditFilter{UserID: alice.ID, Limit: auth.MaxPageSize})
		require.NoError(t, err)
		seen := map[auth.EventType]bool{}
		for _, ev := range events {
			switch ev.Type {
			case auth.EventSessionCreated, auth.EventLoginSucceeded, auth.EventTOTPEnrollmentStarted, auth.EventTOTPEnrolled:
				continue // the test's, acting as the user
			}
			seen[ev.Type] = true
			assert.Equal(t, auth.Actor{Kind: auth.ActorOS, Name: osUser}, ev.Actor, ev.Type)
		}
		for _, typ := range []auth.EventType{auth.EventUserRegistered, auth.EventUserUpdated, auth.EventAdminGranted,
			auth.EventPasswordSet, auth.EventSessionsRevoked, auth.EventTOTPRemoved, auth.EventUserDeleted} {
			assert.True(t, seen[typ], "%s recorded", typ)
		}

		// The management log: one line per change attempted, no secrets.
		data, err := os.ReadFile(e.logs)
		require.NoError(t, err)
		info, err := os.Stat(e.logs)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		for _, secret := range []string{alicePassword, newPassword, "root password 1234", "short1", sess.Token, enrollment.Secret, "$2a$"} {
			assert.NotContains(t, string(data), secret)
		}
		logged := e.logLines()
		outcomes := map[string]int{}
		for _, l := range logged {
			assert.Equal(t, osUser, l["os_user"])
			assert.NotEmpty(t, l["time"])
			outcomes[l["command"].(string)+" "+l["outcome"].(string)]++
		}
		assert.Equal(t, 2, outcomes["users create ok"])
		assert.Equal(t, 1, outcomes["users create refused"])
		assert.Equal(t, 2, outcomes["users create failed"])
		assert.Equal(t, 1, outcomes["users delete ok"])
		assert.Equal(t, 1, outcomes["users remove-2fa ok"])
		assert.Equal(t, 1, outcomes["users revoke-sessions ok"])
		last := logged[len(logged)-2] // the delete that succeeded
		assert.Equal(t, "users delete", last["command"])
		assert.Equal(t, []any{"user"}, last["fields"])
		for _, l := range logged {
			if l["command"] == "users update" && l["outcome"] == "ok" && len(l["fields"].([]any)) == 2 {
				assert.ElementsMatch(t, []any{"username", "phone"}, l["fields"])
			}
		}
	})
}

func jsonID(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

var backupLine = regexp.MustCompile(`backup written to (\S+)`)

// checkBackup checks the backup a command printed: named after a UTC
// millisecond timestamp in dir, mode 0600, holding the user once restored
// as the README says: a SQLite backup opens as it is; a PostgreSQL one is
// restored with pg_restore into a new database that "credstore migrate up"
// made, its two seeded tables emptied.
func checkBackup(t *testing.T, out, dir, dsn, email string) {
	t.Helper()
	m := backupLine.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	file := m[1]
	assert.Equal(t, dir, filepath.Dir(file))
	ext := ".db"
	if database.IsPostgres(dsn) {
		ext = ".dump"
	}
	assert.Regexp(t, `^credstore-\d{8}T\d{6}\.\d{3}Z\`+ext+`$`, filepath.Base(file))
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	restored := file
	if database.IsPostgres(dsn) {
		restored = testdb.DSN(t, database.Postgres)
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, runIO(context.Background(), []string{"migrate", "up", "-db", restored}, testEnv(nil), nil, &stdout, &stderr), stderr.String())
		_, err := testdb.Raw(t, restored).Exec("TRUNCATE schema_migrations, audit_chain")
		require.NoError(t, err)
		restore := exec.Command("pg_restore", "--data-only", "--single-transaction", "--exit-on-error", "--dbname="+restored, file)
		msg, err := restore.CombinedOutput()
		require.NoError(t, err, "%s", msg)
	}
	s, err := auth.Open(context.Background(), restored, auth.Config{})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.UserByEmail(context.Background(), email)
	require.NoError(t, err, "the backup holds the user")
	report, err := s.VerifyAuditChain(context.Background())
	require.NoError(t, err, "the restored audit trail verifies")
	assert.Positive(t, report.Events)
}

// TestBackupCommand: a SQLite database is copied to a new file, mode 0600,
// which opens with its users; an existing file is never overwritten; for
// PostgreSQL the command says how to run pg_dump.
func TestBackupCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newUsersEnv(t, filepath.Join(dir, "credstore.db"))
	code, _, errOut := e.cli("a password 1234\n", "users", "create", "-email", "alice@example.com", "-password-stdin")
	require.Equal(t, 0, code, errOut)

	file := filepath.Join(dir, "copy.db")
	code, out, errOut := e.cli("", "backup", file)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "backup written to "+file+"\n", out)
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	s, err := auth.Open(context.Background(), file, auth.Config{})
	require.NoError(t, err)
	_, err = s.UserByEmail(context.Background(), "alice@example.com")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	code, _, errOut = e.cli("", "backup", file)
	assert.Equal(t, 1, code, "refuses to overwrite")
	assert.Contains(t, errOut, "exists")

	code, _, _ = e.cli("", "backup")
	assert.Equal(t, 2, code)

	code, _, errOut = e.cli("", "backup", "-db", "postgres://app:s3cret@db.internal:5432/app", "/var/backups/app.dump")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "pg_dump --format=custom --file=/var/backups/app.dump 'postgres://app")
	assert.NotContains(t, errOut, "s3cret")
}

// TestUsersHelp: every subcommand describes its flags and their
// environment twins, and the top-level help lists the new commands.
func TestUsersHelp(t *testing.T) {
	t.Parallel()
	e := &usersEnv{t: t, env: map[string]string{}}
	for _, sub := range []string{"create", "list", "get", "update", "delete", "sessions", "revoke-sessions", "remove-2fa", "disable", "enable"} {
		code, _, errOut := e.cli("", "users", sub, "-h")
		assert.Equal(t, 0, code, sub)
		assert.Contains(t, errOut, "usage: credstore users "+sub, sub)
		assert.Contains(t, errOut, "env CREDSTORE_DB", sub)
	}
	code, _, errOut := e.cli("", "users", "update", "-h")
	require.Equal(t, 0, code)
	for _, env := range []string{"CREDSTORE_USERS_LOG", "CREDSTORE_BACKUP_DIR", "CREDSTORE_BCRYPT_COST", "CREDSTORE_USERS_POLICY", "CREDSTORE_KEY_FILE"} {
		assert.Contains(t, errOut, env)
	}
	code, out, _ := e.cli("", "help")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "users ")
	assert.Contains(t, out, "backup ")
	code, _, _ = e.cli("", "users", "frobnicate")
	assert.Equal(t, 2, code)
	code, _, _ = e.cli("", "users", "create", "-email", "a@example.com", "-policy", "weird")
	assert.Equal(t, 2, code)
}

// osUserName falls back on $USER only when the system cannot say; here it
// can.
func TestOSUserName(t *testing.T) {
	t.Parallel()
	u, err := user.Current()
	require.NoError(t, err)
	assert.Equal(t, u.Username, osUserName(func(string) string { return "someone-else" }))
}

// TestManagementLogWriteFailure: a change whose log line cannot be written
// (here the device is full) is made, and the operator is told the log
// missed it.
func TestManagementLogWriteFailure(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	t.Parallel()
	e := newUsersEnv(t, filepath.Join(t.TempDir(), "credstore.db"))
	e.env["CREDSTORE_USERS_LOG"] = "/dev/full"
	code, out, errOut := e.cli(alicePassword+"\n", "users", "create", "-email", "alice@example.com", "-password-stdin")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "alice@example.com")
	assert.Equal(t, 1, strings.Count(errOut, "warning: could not append to the management log /dev/full"), errOut)
	_, err := e.store().UserByEmail(context.Background(), "alice@example.com")
	assert.NoError(t, err, "the change was made")
}
