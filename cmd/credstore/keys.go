package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"runtime"
	"slices"
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
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if database.IsPostgres(c.DB) {
			return nil, fmt.Errorf("key file %s does not exist: with PostgreSQL, create it once and give every "+
				"instance the same file (docs/service.md, \"The TOTP key file\")", path)
		}
		id, err := newKeyID(now, random)
		if err != nil {
			return nil, err
		}
		switch err := auth.CreateKeyFile(path, id, random); {
		case err == nil:
			log.Info("created TOTP key file", "path", path, "key_id", id)
		case !errors.Is(err, fs.ErrExist): // another process's, just made: read it
			return nil, err
		}
	}
	return readKeyFile(path)
}

// readKeyFile reads the key file at path, refusing one that is not a
// regular file or that others may read (privateEnough).
func readKeyFile(path string) (*auth.Keyring, error) {
	info, err := os.Stat(path)
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

// newKeyID names a new key: the day it was made, for the operator, and 32
// random bits, so that a key made after another was lost never takes its
// id (a secret under the lost key would then fail to decrypt as if
// altered, instead of as a missing key).
func newKeyID(now time.Time, random io.Reader) (string, error) {
	b := make([]byte, 4)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	return fmt.Sprintf("k%s-%x", now.UTC().Format("20060102"), b), nil
}

// lostKeyFile refuses to start with a SQLite database whose key file is
// missing while the database holds TOTP secrets: serve would otherwise make
// a new key that decrypts none of them, and their users' codes would fail
// as wrong codes. It names the keys and how many secrets each encrypts, and
// the two ways on. A database that does not exist yet holds nothing.
func lostKeyFile(ctx context.Context, c serveConfig) error {
	path := c.keyFile()
	if path == "" || database.IsPostgres(c.DB) {
		return nil // PostgreSQL never creates one: loadKeys refuses a missing file
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(sqliteFile(c.DB)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	store, err := auth.Open(ctx, c.DB, auth.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	missing, err := store.MissingKeys(ctx)
	if err != nil || len(missing) == 0 {
		return err
	}
	var ids []string
	var n int64
	for id, count := range missing {
		ids = append(ids, fmt.Sprintf("%s (%d)", id, count))
		n += count
	}
	slices.Sort(ids)
	return fmt.Errorf("key file %s does not exist, but the database holds %d TOTP secrets under keys %s: "+
		"put the key file back from a backup and start again; if those keys are lost for good, create a new key "+
		"file with \"credstore keys create -key-file %s\" and start again: those users then log in with a recovery code "+
		"and enroll again, or an administrator removes their factor (credstore users remove-2fa)",
		path, n, strings.Join(ids, ", "), path)
}

// keyFilePoll is how often serve looks at its key file for a change.
const keyFilePoll = 2 * time.Second

// watchKeyFile reads c's key file again when it changes (its size or
// modification time, looked at every keyFilePoll) or when hup delivers
// (SIGHUP), and hands the new ring to the store, then moves the secrets
// under older keys to its current one (reencrypt). A running service so
// follows "credstore keys rotate" without a restart: until it does, secrets
// under the new key would not decrypt here. A file that cannot be read, or
// is refused (its mode, a key id twice), is logged and changes nothing: the
// keys read before stay in use. It returns when ctx ends.
//
// last is the file's stamp when its keys were read (keyFileStamp), taken
// before serve listens: a change made once it listens is never missed,
// however late this goroutine starts.
func watchKeyFile(ctx context.Context, c serveConfig, store *auth.Store, log *slog.Logger, hup <-chan os.Signal, last string) {
	path := c.keyFile()
	tick := time.NewTicker(keyFilePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			if keyFileStamp(path) == last {
				continue
			}
		}
		last = keyFileStamp(path)
		ring, err := readKeyFile(path)
		if err == nil {
			err = store.SetSecretKeys(ring)
		}
		if err != nil {
			log.Error("key file not reloaded: the keys read before stay in use", "path", path, "err", err.Error())
			continue
		}
		ids := slices.Sorted(maps.Keys(ring.Keys))
		log.Info("key file reloaded", "path", path, "key_id", ring.Current, "keys", ids)
		reencrypt(ctx, store, ring, log)
	}
}

// keyFileStamp is what tells a changed key file: its size and modification
// time ("" when it cannot be read).
func keyFileStamp(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprint(info.Size(), info.ModTime().UnixNano())
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
