package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
)

// TestKeysRotateCommand: with a key missing from the file, rotate reports
// the secrets it cannot read and fails; with the new key first and the old
// after it, it moves both secrets, then none; a missing or too open key
// file is refused and none is created. Every run that reads the key file
// starts a new token-signing key, and the previous ones stay published.
func TestKeysRotateCommand(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	old, oldLine := newKey(t, dir, "old")
	_, newLine := newKey(t, dir, "new")
	ring, err := auth.ReadKeyFile(old)
	require.NoError(t, err)
	store, err := auth.Open(ctx, db, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: ring})
	require.NoError(t, err)
	for i, email := range []string{"alice@example.com", "bob@example.com"} {
		u, err := store.Register(ctx, auth.Registration{Username: strings.Split(email, "@")[0], Email: email, Password: "password-x"})
		require.NoError(t, err)
		e, err := store.EnrollTOTP(ctx, u.ID)
		require.NoError(t, err)
		if i == 0 {
			code, err := totp.GenerateCode(e.Secret, time.Now())
			require.NoError(t, err)
			_, err = store.ConfirmTOTP(ctx, u.ID, auth.TOTPConfirmation{Code: code, Password: "password-x"})
			require.NoError(t, err)
		}
	}
	require.NoError(t, store.Close())

	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append([]string{"keys", "rotate", "-db", db}, args...), func(string) string { return "" }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	keys := filepath.Join(dir, "rotating.keys")

	code, _, errOut := cli("-key-file", keys)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such file")
	assert.NoFileExists(t, keys, "rotate never creates a key file")
	code, _, errOut = cli()
	assert.Equal(t, 1, code, "nor the default one beside the database")
	assert.NoFileExists(t, db+".keys", errOut)

	writeKeys(t, keys, newLine)
	code, out, errOut := cli("-key-file", keys)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `^re-encrypted 0 secrets under key new\nnew token-signing key [A-Za-z0-9_-]{43}\n$`, out,
		"the signing key is rotated all the same: it needs only the current key")
	assert.Contains(t, errOut, `"old"`, "the missing key's id")

	writeKeys(t, keys, newLine, oldLine)
	require.NoError(t, os.Chmod(keys, 0o644))
	code, _, errOut = cli("-key-file", keys)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "chmod 600")

	writeKeys(t, keys, newLine, oldLine)
	code, out, errOut = cli("-key-file", keys)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^re-encrypted 2 secrets under key new\nnew token-signing key [A-Za-z0-9_-]{43}\n$`, out)
	code, out, errOut = cli("-key-file", keys)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^re-encrypted 0 secrets under key new\nnew token-signing key `, out)

	writeKeys(t, keys, newLine)
	code, out, errOut = cli("-key-file", keys)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^re-encrypted 0 secrets under key new\nnew token-signing key `, out, "the old key is no longer needed")

	// Three rotations: three keys published, the last one signing.
	store, err = auth.Open(ctx, db, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: testRing(t, keys)})
	require.NoError(t, err)
	defer store.Close()
	set, err := store.JWKS(ctx)
	require.NoError(t, err)
	require.Len(t, set.Keys, 4)
	kid := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[1], "new token-signing key "))
	assert.Equal(t, kid, set.Keys[3].KeyID)

	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run(ctx, []string{"keys", "generate"}, func(string) string { return "" }, &stdout, &stderr))
}

// testRing reads a key file.
func testRing(t *testing.T, path string) *auth.Keyring {
	t.Helper()
	ring, err := auth.ReadKeyFile(path)
	require.NoError(t, err)
	return ring
}

// TestKeysRotateCreatesNoDatabase: keys rotate on a mistyped -db refuses,
// and leaves no empty database behind.
func TestKeysRotateCreatesNoDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys, _ := newKey(t, dir, "k1")
	var stdout, stderr bytes.Buffer
	db := filepath.Join(dir, "mistyped.db")
	code := run(t.Context(), []string{"keys", "rotate", "-db", db, "-key-file", keys}, func(string) string { return "" }, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "no such database file")
	assert.NoFileExists(t, db)
}
