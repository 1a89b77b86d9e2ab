package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/credstore/credstore/internal/database"
)

const backupUsage = `usage: credstore backup [flags] FILE

Copies the SQLite database to FILE (which must not exist), mode 0600, with
VACUUM INTO: a consistent snapshot, safe while the service runs. It is the
whole database, password hashes included: keep it as safe as the database.
To restore, stop the service and copy the file over the database.

The database is copied as it is: never migrated, whatever its schema
version (a note says when it is not this build's), and never created (a
database file that does not exist is an error).

A PostgreSQL database is backed up with pg_dump; this command prints the
command to run and exits 1.

`

// backup is "credstore backup FILE".
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("credstore backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage); fs.PrintDefaults() }
	dsn := fs.String("db", envOr(getenv, "CREDSTORE_DB", "credstore.db"), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "credstore backup: want exactly one argument, the backup file\n")
		return 2
	}
	file := fs.Arg(0)
	if database.IsPostgres(*dsn) {
		fmt.Fprintf(stderr, "credstore backup: a PostgreSQL database is backed up with pg_dump:\n  %s\n", pgDumpCommand(*dsn, file))
		return 1
	}
	d, err := database.OpenExisting(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "credstore backup: %v\n", err)
		return 1
	}
	defer d.Close()
	var ve *database.VersionError
	if err := d.CheckVersion(ctx, nil); errors.As(err, &ve) {
		// A backup of an older database before it is migrated is the very
		// backup an upgrade wants; the note says it is not this build's.
		fmt.Fprintf(stderr, "credstore backup: note: %v; the backup is of the database as it is, not migrated\n", ve)
	} else if err != nil {
		fmt.Fprintf(stderr, "credstore backup: %v\n", err)
		return 1
	}
	if err := vacuumDB(ctx, d, file); err != nil {
		fmt.Fprintf(stderr, "credstore backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup written to %s\n", file)
	return 0
}

// pgDumpCommand is the command that backs up the PostgreSQL database dsn
// names to file, its password left out (pg_dump reads PGPASSWORD or
// ~/.pgpass, or asks).
func pgDumpCommand(dsn, file string) string {
	return fmt.Sprintf("pg_dump --format=custom --file=%s '%s'", shellQuote(file), database.Redact(dsn))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '-' || r == '_') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// vacuumInto writes a consistent copy of the SQLite database dsn names to
// file (see vacuumDB). The database is opened as it is: a backup neither
// migrates it nor creates it.
func vacuumInto(ctx context.Context, dsn, file string) error {
	d, err := database.OpenExisting(ctx, dsn)
	if err != nil {
		return err
	}
	defer d.Close()
	return vacuumDB(ctx, d, file)
}

// vacuumDB writes a consistent copy of the SQLite database d to file with
// VACUUM INTO. The file is created first, empty, exclusively and with mode
// 0600 (SQLite accepts an empty target), so that an existing file is never
// overwritten and the copy, which holds password hashes, is never readable
// by others, not even for a moment.
func vacuumDB(ctx context.Context, d *database.DB, file string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if _, err := d.SQL().ExecContext(ctx, "VACUUM INTO ?", file); err != nil {
		os.Remove(file)
		return fmt.Errorf("VACUUM INTO: %w", err)
	}
	// Umask aside, SQLite keeps the mode of the file it found; make sure.
	return os.Chmod(file, 0o600)
}

// backupName is the name of a backup taken at t: a UTC timestamp to the
// millisecond, so that backups sort by time.
func backupName(t time.Time, ext string) string {
	return "credstore-" + t.UTC().Format(backupTimeLayout) + ext
}

const backupTimeLayout = "20060102T150405.000Z"

// backupFileName matches the names backupName gives, and only those: the
// files pruneBackups may delete.
var backupFileName = regexp.MustCompile(`^credstore-\d{8}T\d{6}\.\d{3}Z\.(db|dump)$`)

// defaultBackupKeep is how many pre-change backups a backup directory keeps
// unless -backup-keep says otherwise.
const defaultBackupKeep = 10

// pruneBackups deletes the oldest pre-change backups of dir beyond the
// newest keep, and returns the paths it deleted; keep 0 keeps them all.
// Only regular files named as backupName names them are counted and
// deleted: whatever else the directory holds is the operator's. The file
// just written, kept, is never deleted, even if a clock set back made its
// name sort before older ones.
func pruneBackups(dir string, keep int, kept string) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir) // sorted by name: oldest first
	if err != nil {
		return nil, fmt.Errorf("prune backups: %w", err)
	}
	var backups []string
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.Type().IsRegular() && backupFileName.MatchString(e.Name()) && path != kept {
			backups = append(backups, path)
		}
	}
	// kept is one of the newest keep.
	excess := len(backups) - (keep - 1)
	var removed []string
	var errs []error
	for _, path := range backups[:max(excess, 0)] {
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("prune backups: %w", errors.Join(errs...))
	}
	return removed, nil
}

// preChangeBackup backs the database up into dir before a destructive
// change and returns the file's path. SQLite: VACUUM INTO, the whole
// database. PostgreSQL: pg_dump --data-only of every table, when pg_dump is
// installed; otherwise an error that says how to proceed.
func preChangeBackup(ctx context.Context, dsn, dir string, now time.Time) (string, error) {
	ext := ".db"
	if database.IsPostgres(dsn) {
		ext = ".dump"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup directory: %w", err)
	}
	// Two changes within one millisecond (a script) must not share a
	// name: the next free millisecond keeps the name's form and its order.
	file := filepath.Join(dir, backupName(now, ext))
	for _, err := os.Lstat(file); err == nil; _, err = os.Lstat(file) {
		now = now.Add(time.Millisecond)
		file = filepath.Join(dir, backupName(now, ext))
	}
	if database.IsPostgres(dsn) {
		if err := pgDumpData(ctx, dsn, file); err != nil {
			return "", fmt.Errorf("refusing to change the database without a backup: %w; back it up with\n  %s\n"+
				"then repeat the command with -no-backup", err, pgDumpCommand(dsn, file))
		}
		return file, nil
	}
	if err := vacuumInto(ctx, dsn, file); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return file, nil
}

// libpqParams are the URL parameters pg_dump (libpq) understands among
// those a credstore URL may carry; the others (pgx's pool_* settings,
// runtime parameters such as statement_timeout) would make libpq refuse the
// URL, and a dump needs none of them.
var libpqParams = map[string]bool{
	"sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true, "sslpassword": true, "sslcrl": true,
	"sslsni": true, "connect_timeout": true, "application_name": true, "target_session_attrs": true,
	"channel_binding": true, "krbsrvname": true, "gssencmode": true, "host": true, "port": true, "user": true,
	"dbname": true, "passfile": true, "service": true,
}

// pgDumpData writes the rows of every table of the PostgreSQL database dsn
// names (data only, in pg_dump's custom format; the schema is the
// migrations') to file, created new with mode 0600 since it holds password
// hashes. The password travels in PGPASSWORD, never on pg_dump's command
// line, where other users could read it.
func pgDumpData(ctx context.Context, dsn, file string) error {
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		return errors.New("pg_dump is not installed")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return errors.New("the database URL does not parse")
	}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if !libpqParams[k] {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()

	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--data-only", "--format=custom", "--dbname="+u.String())
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, &stderr
	err = cmd.Run()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		// pg_dump's own message names the server and the user, never the
		// password, which it was not given on its command line.
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("pg_dump: %v: %s", err, msg)
	}
	return nil
}

// envOr is the environment variable env, or def when it is empty.
func envOr(getenv func(string) string, env, def string) string {
	if v := getenv(env); v != "" {
		return v
	}
	return def
}
