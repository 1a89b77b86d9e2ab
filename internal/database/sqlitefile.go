package database

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// ErrNoDatabase is OpenExisting's error for a SQLite file that does not
// exist: it creates none.
var ErrNoDatabase = errors.New("no such database file")

// sqliteFile returns the path of the file a SQLite DSN (a path or a file:
// URI, as Open takes it) names, and its mode parameter. ok is false when it
// names no file of the file system: an in-memory or temporary database, or
// a URI whose authority is a host other than this one (SQLite refuses it).
func sqliteFile(dsn string) (path, mode string, ok bool) {
	name, rawQuery, _ := strings.Cut(dsn, "?")
	q, _ := url.ParseQuery(rawQuery) // sqliteDSN has refused what does not parse
	mode = q.Get("mode")
	if mode == "memory" || q.Get("vfs") == "memdb" {
		return "", mode, false
	}
	rest, isURI := strings.CutPrefix(name, "file:")
	if !isURI {
		// A plain path names the file it spells (sqliteDSN escapes it).
		return name, mode, name != "" && name != ":memory:"
	}
	// file:///abs/path, file://localhost/abs/path, file:rel/path (RFC 8089
	// as SQLite reads it), up to a '#' and with %HH decoded.
	rest, _, _ = strings.Cut(rest, "#")
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		authority, p, _ := strings.Cut(after, "/")
		if authority != "" && authority != "localhost" {
			return "", mode, false
		}
		rest = "/" + p
	}
	path, err := url.PathUnescape(rest)
	if err != nil || path == "" || path == ":memory:" {
		return "", mode, false
	}
	return path, mode, true
}

// createSQLiteFile creates the file of a new SQLite database, empty (which
// SQLite reads as an empty database) and mode 0600, before SQLite opens it:
// SQLite would create it 0644 less the umask, readable by every user of the
// machine, and it gives the -wal and -shm files it makes beside a database
// the database file's own mode. The database holds password hashes. An
// existing file is left as it is, and so is a DSN whose mode parameter
// tells SQLite not to create one (ro, rw).
func createSQLiteFile(dsn string) error {
	path, mode, ok := sqliteFile(dsn)
	if !ok || mode != "" && mode != "rwc" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the database file: %w", err)
	}
	return f.Close()
}

// existingSQLiteFile checks that the file a SQLite DSN names exists, and
// returns full, the driver DSN sqliteDSN made of it, with mode=rw in place
// of the default rwc (or an explicit rwc), so that SQLite does not create
// the file either should it vanish meanwhile. A DSN with mode=ro keeps it.
func existingSQLiteFile(dsn, full string) (string, error) {
	path, mode, ok := sqliteFile(dsn)
	if !ok {
		return "", errors.New("not a database file: only a SQLite file that exists can be opened without creating it")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (none was created: check the path)", ErrNoDatabase)
	} else if err != nil {
		return "", err
	}
	if mode != "" && mode != "rwc" {
		return full, nil
	}
	name, rawQuery, _ := strings.Cut(full, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("DSN parameters: %w", err)
	}
	q.Set("mode", "rw")
	return name + "?" + q.Encode(), nil
}
