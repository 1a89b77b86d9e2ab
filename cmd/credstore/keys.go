package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
)

// keyFile is the TOTP key file c uses: -key-file, or for a SQLite database
// "<its path>.keys" beside it; "" for PostgreSQL without -key-file, where
// two-factor authentication is then off. A SQLite database lives on one
// machine, served by one process, so one file beside it is the obvious
// place; PostgreSQL serves instances on several machines, which must share
// one key, so no default could be right.
func (c serveConfig) keyFile() string {
	switch {
	case c.KeyFile != "":
		return c.KeyFile
	case database.IsPostgres(c.DB):
		return ""
	}
	return sqliteFile(c.DB) + ".keys"
}

// sqliteFile is the file a SQLite DSN names: a plain path up to any '?'
// (as database.Open reads it), or a file: URI's path, unescaped.
func sqliteFile(dsn string) string {
	name, _, _ := strings.Cut(dsn, "?")
	rest, ok := strings.CutPrefix(name, "file:")
	if !ok {
		return name
	}
	if p, err := url.PathUnescape(rest); err == nil {
		rest = p
	}
	// file://host/path: SQLite accepts only an empty host or localhost.
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		if i := strings.IndexByte(after, '/'); i >= 0 {
			rest = after[i:]
		}
	}
	return rest
}

// loadKeys reads the key ring that encrypts TOTP secrets from c's key file:
// nil, with a warning, when there is none (PostgreSQL without -key-file).
// A SQLite database's missing key file is created, with one random key
// named after today's date; a PostgreSQL one is an error, since instances
// that each made their own would not read each other's secrets.
//
// A key file that others than its owner may read or write is refused (see
// privateEnough), as ssh refuses such a private key: the key decrypts every
// user's TOTP secret, and a warning in a log nobody reads would leave it
// exposed, while chmod 600 mends it at once.
func loadKeys(c serveConfig, log *slog.Logger, now time.Time, random io.Reader) (*auth.Keyring, error) {
	path := c.keyFile()
	if path == "" {
		log.Warn("two-factor authentication is off: no -key-file for a PostgreSQL database; enrolling answers 503")
		return nil, nil
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if database.IsPostgres(c.DB) {
			return nil, fmt.Errorf("key file %s does not exist: with PostgreSQL, create it once and give every "+
				"instance the same file (docs/service.md, \"The TOTP key file\")", path)
		}
		id := "k" + now.UTC().Format("20060102")
		switch err := auth.CreateKeyFile(path, id, random); {
		case err == nil:
			log.Info("created TOTP key file", "path", path, "key_id", id)
		case !errors.Is(err, fs.ErrExist): // another process's, just made: read it
			return nil, err
		}
		info, err = os.Stat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if !privateEnough(info) {
		return nil, fmt.Errorf("key file %s has mode %04o: it holds the key of every TOTP secret and must be "+
			"readable by its owner only (chmod 600 %s), or by a group too if root owns it (0640)",
			path, info.Mode().Perm(), path)
	}
	return auth.ReadKeyFile(path) // its errors never quote a line
}

// privateEnough reports whether a key file's mode keeps it to its owner:
// 0600 or narrower; or, for a file root owns, 0640 or narrower, as
// PostgreSQL allows for its TLS key. That is how an administrator shares a
// secret with a service's group (root:credstore 0640), and how Kubernetes
// mounts one for a pod with an fsGroup (root-owned, 0440). Windows has no
// such modes.
func privateEnough(info fs.FileInfo) bool {
	perm := info.Mode().Perm()
	if perm&0o077 == 0 || runtime.GOOS == "windows" {
		return true
	}
	uid, ok := fileOwner(info)
	return ok && uid == 0 && perm&0o037 == 0
}

// reencrypt moves the secrets (TOTP secrets, token-signing keys) stored
// under an older key of the ring to its current one, and logs how many moved: that is how a key is rotated.
// It runs with a single key too, where it moves nothing but finds secrets
// under a key that is no longer in the file, whose users cannot log in with
// a code until it is put back. Neither failure stops the service: every
// other user still logs in.
func reencrypt(ctx context.Context, store *auth.Store, ring *auth.Keyring, log *slog.Logger) {
	moved, err := store.ReencryptSecrets(ctx)
	switch {
	case errors.Is(err, auth.ErrNoSecretKey):
		log.Error("secrets under a key missing from the key file: their TOTP users cannot log in with a code "+
			"(recovery codes still work), and a signing key under it signs nothing; put that key back on a line after the current one",
			"moved", moved, "err", err.Error())
	case err != nil:
		log.Error("re-encrypting secrets", "moved", moved, "err", err.Error())
	case len(ring.Keys) > 1:
		log.Info("re-encrypted secrets under the current key", "moved", moved, "key_id", ring.Current,
			"keys", len(ring.Keys))
	}
}
