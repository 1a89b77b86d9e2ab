package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// readOnlyCommands are the commands that only read the database: they
// neither create nor migrate it. backup writes to copy.
func readOnlyCommands(copy string) [][]string {
	return [][]string{
		{"backup", copy},
		{"audit", "verify"},
		{"audit"},
		{"users", "list"},
		{"users", "get", "-id", "1"},
		{"users", "sessions", "-id", "1"},
		{"users", "import", "-dry-run", "/dev/null"},
	}
}

// TestReadOnlyCommandsCreateNothing: given a -db path that names no file
// (a typo), every read-only command fails and creates no database.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newUsersEnv(t, filepath.Join(dir, "mistyped.db"))
	e.env["CREDSTORE_KEY_FILE"] = ""
	// migrate status and down too: only up creates a database.
	cmds := append(readOnlyCommands(filepath.Join(t.TempDir(), "copy.db")), []string{"migrate", "status"}, []string{"migrate", "down", "-yes"})
	for _, args := range cmds {
		code, out, errOut := e.cli("", args...)
		assert.Equal(t, 1, code, "%v: %s", args, out)
		assert.Contains(t, errOut, "no such database file", "%v", args)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing created")
}

// TestReadOnlyCommandsMigrateNothing: on a database at an older schema
// version, audit and the users commands that only read refuse, naming both
// versions and "credstore migrate up"; backup copies it as it is, with a
// note. None of them migrates it, on either engine.
func TestReadOnlyCommandsMigrateNothing(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		defer d.Close()
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		require.NoError(t, d.MigrateTo(ctx, 2))
		version := func(d *database.DB) int {
			v, err := d.Version(ctx)
			require.NoError(t, err)
			return v
		}

		copy := filepath.Join(t.TempDir(), "copy.db")
		e := newUsersEnv(t, dsn)
		for _, args := range readOnlyCommands(copy) {
			code, out, errOut := e.cli("", args...)
			if args[0] == "backup" && !database.IsPostgres(dsn) {
				require.Equal(t, 0, code, errOut)
				assert.Contains(t, errOut, fmt.Sprintf("note: credstore's schema is at version 2, older than this build's %d", latest))
				assert.Contains(t, out, "backup written to "+copy)
				copied, err := database.OpenExisting(ctx, copy)
				require.NoError(t, err)
				assert.Equal(t, 2, version(copied), "the backup is of the database as it was")
				require.NoError(t, copied.Close())
			} else if args[0] != "backup" {
				assert.Equal(t, 1, code, "%v: %s", args, out)
				assert.Contains(t, errOut, fmt.Sprintf("credstore's schema is at version 2, older than this build's %d", latest), "%v", args)
				assert.Contains(t, errOut, "credstore migrate up", "%v", args)
			}
			assert.Equal(t, 2, version(d), "%v migrates nothing", args)
		}
	})
}

// TestPreChangeBackupRotation: a destructive change keeps the newest
// -backup-keep backups of the backup directory (CREDSTORE_BACKUP_KEEP, 10
// by default), the new one included, and deletes only the older files
// credstore named; 0 keeps every one.
func TestPreChangeBackupRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newUsersEnv(t, filepath.Join(t.TempDir(), "credstore.db"))
	require.NoError(t, os.MkdirAll(e.backup, 0o700))
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		require.NoError(t, os.WriteFile(filepath.Join(e.backup, backupName(old.Add(time.Duration(i)*time.Hour), ".db")), nil, 0o600))
	}
	theirs := []string{"credstore-notes.txt", "credstore-20200101T000000.000Z.db.bak", "mine.db"}
	for _, name := range theirs {
		require.NoError(t, os.WriteFile(filepath.Join(e.backup, name), nil, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(e.backup, backupName(old.Add(-time.Hour), ".db")), 0o700))
	backups := func() []string {
		entries, err := os.ReadDir(e.backup)
		require.NoError(t, err)
		var out []string
		for _, en := range entries {
			if en.Type().IsRegular() && backupFileName.MatchString(en.Name()) {
				out = append(out, en.Name())
			}
		}
		sort.Strings(out)
		return out
	}
	deleteUser := func(email string, flags ...string) (int, string, string) {
		code, _, errOut := e.cli("a password 1234\n", "users", "create", "-email", email, "-password-stdin")
		require.Equal(t, 0, code, errOut)
		u, err := e.store().UserByEmail(ctx, email)
		require.NoError(t, err)
		return e.cli("", append([]string{"users", "delete", "-id", fmt.Sprint(u.ID), "-yes"}, flags...)...)
	}

	e.env["CREDSTORE_BACKUP_KEEP"] = "3"
	code, out, errOut := deleteUser("a@example.com")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "removed 10 older backup(s)")
	got := backups()
	require.Len(t, got, 3)
	assert.Equal(t, backupName(old.Add(10*time.Hour), ".db"), got[0])
	assert.Equal(t, backupName(old.Add(11*time.Hour), ".db"), got[1])
	assert.Equal(t, filepath.Base(backupLine.FindStringSubmatch(out)[1]), got[2], "the new one is kept")
	for _, name := range theirs {
		assert.FileExists(t, filepath.Join(e.backup, name), "not credstore's to delete")
	}
	assert.DirExists(t, filepath.Join(e.backup, backupName(old.Add(-time.Hour), ".db")))

	code, out, errOut = deleteUser("b@example.com", "-backup-keep", "0")
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, out, "removed")
	assert.Len(t, backups(), 4, "-backup-keep 0 keeps every one")

	delete(e.env, "CREDSTORE_BACKUP_KEEP")
	for range 8 {
		code, _, errOut = deleteUser(fmt.Sprintf("c%d@example.com", time.Now().UnixNano()))
		require.Equal(t, 0, code, errOut)
	}
	assert.Len(t, backups(), defaultBackupKeep, "10 by default")

	code, _, errOut = e.cli("", "users", "delete", "-id", "1", "-yes", "-backup-keep", "-1")
	assert.Equal(t, 2, code, errOut)
	e.env["CREDSTORE_BACKUP_KEEP"] = "ten"
	code, _, errOut = e.cli("", "users", "delete", "-id", "1", "-yes")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "CREDSTORE_BACKUP_KEEP")
}

// TestBackupDirectoryOwnerOnly: the backup directory credstore creates is
// 0700, its backups 0600.
func TestBackupDirectoryOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newUsersEnv(t, filepath.Join(dir, "credstore.db"))
	code, _, errOut := e.cli("a password 1234\n", "users", "create", "-email", "a@example.com", "-password-stdin")
	require.Equal(t, 0, code, errOut)
	file, err := preChangeBackup(context.Background(), e.dsn, filepath.Join(dir, "new", "backups"), time.Now())
	require.NoError(t, err)
	for path, want := range map[string]os.FileMode{filepath.Join(dir, "new", "backups"): 0o700, filepath.Join(dir, "new"): 0o700, file: 0o600} {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, want, info.Mode().Perm(), path)
	}
	assert.Regexp(t, regexp.MustCompile(`^credstore-\d{8}T\d{6}\.\d{3}Z\.db$`), filepath.Base(file))
}

// TestPreChangeBackupSameMillisecond: two changes within one millisecond (a
// script deleting users) each get a backup of their own, named in order,
// instead of the second failing on the first one's name.
func TestPreChangeBackupSameMillisecond(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "credstore.db")
	e := newUsersEnv(t, db)
	code, _, errOut := e.cli("a password 1234\n", "users", "create", "-email", "a@example.com", "-password-stdin")
	require.Equal(t, 0, code, errOut)
	now := time.Now()
	first, err := preChangeBackup(t.Context(), db, filepath.Join(dir, "b"), now)
	require.NoError(t, err)
	second, err := preChangeBackup(t.Context(), db, filepath.Join(dir, "b"), now)
	require.NoError(t, err)
	assert.Less(t, filepath.Base(first), filepath.Base(second))
	assert.True(t, backupFileName.MatchString(filepath.Base(second)), second)
}
