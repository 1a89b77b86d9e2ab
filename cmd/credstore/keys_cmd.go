package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/credstore/credstore/auth"
)

const keysUsage = `usage: credstore keys rotate [flags]   re-encrypt every secret under the key file's current (first) key, and start a new token-signing key
       credstore keys create [flags]   write a new key file with one new key (refused if the file exists)

To rotate the key file's keys: put a new key on the key file's first line and
keep the old ones after it, then run "credstore keys rotate", or let a running
serve do it: it reads the key file again when the file changes (within 2
seconds) or on SIGHUP, and re-encrypts too. Remove the old keys only after.

Every run also makes a new Ed25519 key to sign access tokens. The previous one
stops signing at once and stays in the JWKS until every token it signed has
expired (the access-token lifetime and two minutes); the purge then removes it.

`

// keysCmd manages the keys. rotate reads the key file as serve does (the
// same -db, -key-file and their environment twins; see serveConfig.keyFile),
// moves every secret stored under an older key (TOTP secrets, signing keys)
// to the current one, and rotates the key that signs access tokens (even
// when some secrets could not be moved: signing needs only the current
// key). Unlike serve it never creates a key file: a new key would decrypt
// none of the secrets already stored.
func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, keysUsage)
		if len(args) > 0 {
			return 0
		}
		return 2
	}
	if args[0] != "rotate" && args[0] != "create" {
		fmt.Fprintf(stderr, "credstore keys: unknown subcommand %q\n\n%s", args[0], keysUsage)
		return 2
	}
	fs := flag.NewFlagSet("credstore keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage); fs.PrintDefaults() }
	var c serveConfig
	fs.StringVar(&c.DB, "db", dbDefault(getenv), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	fs.StringVar(&c.KeyFile, "key-file", getenv("CREDSTORE_KEY_FILE"), "`file` of the keys, as serve reads it; default for SQLite <db path>.keys (env CREDSTORE_KEY_FILE)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "credstore keys %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "credstore keys %s: %v\n", args[0], err)
		return 1
	}
	path := c.keyFile()
	if path == "" {
		return fail(errors.New("a PostgreSQL database has no default key file: pass -key-file"))
	}
	if args[0] == "create" {
		id, err := newKeyID(time.Now(), rand.Reader)
		if err == nil {
			err = auth.CreateKeyFile(path, id, rand.Reader)
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "created key file %s with key %s: keep a copy with your backups, apart from them\n", path, id)
		return 0
	}
	if _, err := os.Stat(path); err != nil {
		return fail(fmt.Errorf("key file: %w", err))
	}
	// loadKeys applies serve's checks (mode, regular file). The file
	// exists, so it creates none; should it vanish meanwhile, the empty
	// source of randomness makes creating one fail before any file is made.
	ring, err := loadKeys(c, slog.New(slog.NewTextHandler(stderr, nil)), time.Now(), strings.NewReader(""))
	if err != nil {
		return fail(err)
	}
	// Never a new database for a mistyped -db, nor a migration: the
	// service's own start migrates.
	store, err := auth.OpenExisting(ctx, c.DB, auth.Config{SecretKeys: ring})
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	moved, err := store.ReencryptSecrets(ctx)
	fmt.Fprintf(stdout, "re-encrypted %d secrets under key %s\n", moved, ring.Current)
	kid, kerr := store.RotateSigningKey(ctx)
	if kerr != nil {
		return fail(errors.Join(err, kerr))
	}
	fmt.Fprintf(stdout, "new token-signing key %s\n", kid)
	if errors.Is(err, auth.ErrNoSecretKey) {
		return fail(fmt.Errorf("%w: their users cannot log in with a code (recovery codes still work); "+
			"put that key back on a line after the current one and run this again", err))
	}
	if err != nil {
		return fail(err)
	}
	return 0
}
