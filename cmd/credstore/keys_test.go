package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
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

func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]string{
		"credstore.db":                          "credstore.db",
		"/var/lib/credstore/c.db":               "/var/lib/credstore/c.db",
		"data/c.db?mode=rwc":                    "data/c.db",
		"file:c.db?mode=rwc&cache=shared":       "c.db",
		"file:/tmp/a%20b.db":                    "/tmp/a b.db",
		"file:///var/lib/c.db":                  "/var/lib/c.db",
		"file://localhost/var/lib/c.db?mode=rw": "/var/lib/c.db",
	} {
		assert.Equal(t, want, sqliteFile(dsn), dsn)
	}
}

// keyLine returns the key line of a key file of one key: "<id> <base64>".
func keyLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	t.Fatalf("%s: no key", path)
	return ""
}

// newKey writes a key file of one new key with the given id in dir and
// returns its path and its line.
func newKey(t *testing.T, dir, id string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, id+".keys")
	require.NoError(t, auth.CreateKeyFile(path, id, rand.Reader))
	return path, keyLine(t, path)
}

// writeKeys writes a key file of the given lines, mode 0600.
func writeKeys(t *testing.T, path string, lines ...string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	require.NoError(t, os.Chmod(path, 0o600)) // whatever the file was
}

// TestKeyFileBesideSQLite: without -key-file, serve creates <db>.keys
// beside a SQLite database on its first start, mode 0600, with one key
// named after the date and 32 random bits, and says so once (path and id, never the key); the
// next start reuses it.
func TestKeyFileBesideSQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "c.db")
	lines, raw := startLogEnv(t, nil, "-db", db)
	l := logged(lines, "created TOTP key file")
	require.NotNil(t, l, "the key file's creation is logged: %s", raw)
	assert.Equal(t, db+".keys", l["path"])
	assert.Regexp(t, regexp.MustCompile(`^k\d{8}-[0-9a-f]{8}$`), l["key_id"], "the date and random bits: never a lost key's id")
	info, err := os.Stat(db + ".keys")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	ring, err := auth.ReadKeyFile(db + ".keys")
	require.NoError(t, err)
	assert.Equal(t, l["key_id"], ring.Current)
	assert.NotContains(t, raw, base64.StdEncoding.EncodeToString(ring.Keys[ring.Current]), "the key in the log")
	listening := logged(lines, "listening")
	assert.Equal(t, true, listening["two_factor"])
	assert.Equal(t, db+".keys", listening["key_file"])
	assert.Equal(t, "credstore", listening["totp_issuer"])
	before, err := os.ReadFile(db + ".keys")
	require.NoError(t, err)

	lines = startLog(t, "-db", db, "-totp-issuer", "Example")
	assert.Nil(t, logged(lines, "created TOTP key file"), "the second start reuses the file")
	assert.Nil(t, logged(lines, "re-encrypted"), "one key: nothing to say")
	assert.Equal(t, "Example", logged(lines, "listening")["totp_issuer"])
	after, err := os.ReadFile(db + ".keys")
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// TestKeyFileFlag: -key-file and its twin CREDSTORE_KEY_FILE name the key
// file, which is then used instead of the default; with SQLite a missing
// one is created there.
func TestKeyFileFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, _ := newKey(t, dir, "k1")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	db := filepath.Join(dir, "c.db")
	for name, env := range map[string]map[string]string{"flag": nil, "env": {"CREDSTORE_KEY_FILE": path}} {
		args := []string{"-db", db}
		if env == nil {
			args = append(args, "-key-file", path)
		}
		lines, raw := startLogEnv(t, env, args...)
		assert.Nil(t, logged(lines, "created TOTP key file"), "%s: %s", name, raw)
		assert.Equal(t, path, logged(lines, "listening")["key_file"], name)
		assert.NoFileExists(t, db+".keys", name)
	}
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	elsewhere := filepath.Join(dir, "elsewhere.keys")
	lines := startLog(t, "-db", db, "-key-file", elsewhere)
	require.NotNil(t, logged(lines, "created TOTP key file"))
	assert.FileExists(t, elsewhere)
	assert.NoFileExists(t, db+".keys")
}

// TestBadKeyFile: a key file serve cannot use stops it at start with
// status 1 and a message that says why, never quoting a key.
func TestBadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := base64.StdEncoding.EncodeToString([]byte("thirty-one bytes, not thirty-2!"))
	malformed := filepath.Join(dir, "malformed.keys")
	writeKeys(t, malformed, "k1 "+short)
	loose, line := newKey(t, dir, "k2")
	require.NoError(t, os.Chmod(loose, 0o644))
	_, key, _ := strings.Cut(line, " ")

	for _, tc := range []struct {
		name   string
		args   []string
		says   []string
		secret string
	}{
		{"malformed", []string{"-key-file", malformed}, []string{"malformed.keys: line 1 is not"}, short},
		{"readable by others", []string{"-key-file", loose}, []string{"has mode 0644", "chmod 600 " + loose}, key},
		{"a directory", []string{"-key-file", dir}, []string{"is not a regular file"}, ""},
		{"missing, with PostgreSQL", []string{"-db", "postgres://credstore@127.0.0.1:1/none", "-key-file", filepath.Join(dir, "none.keys")},
			[]string{"does not exist: with PostgreSQL, create it once"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr := &testdb.Buffer{}
			args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "c.db")}, tc.args...)
			code := run(t.Context(), args, func(string) string { return "" }, io.Discard, stderr)
			assert.Equal(t, 1, code, stderr.String())
			for _, s := range tc.says {
				assert.Contains(t, stderr.String(), s)
			}
			assert.NotContains(t, stderr.String(), `"msg":"listening"`)
			if tc.secret != "" {
				assert.NotContains(t, stderr.String(), tc.secret, "the key in the message")
			}
		})
	}
}

// TestKeyFileGroupReadable: a key file others can read is refused; one a
// group can read is accepted only when root owns it (0640 root:credstore,
// or Kubernetes' fsGroup mounts).
func TestKeyFileGroupReadable(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no file modes")
	}
	dir := t.TempDir()
	path, _ := newKey(t, dir, "k1")
	info := func(mode os.FileMode) fs.FileInfo {
		t.Helper()
		require.NoError(t, os.Chmod(path, mode))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi
	}
	assert.True(t, privateEnough(info(0o600)))
	assert.True(t, privateEnough(info(0o400)))
	assert.False(t, privateEnough(info(0o604)), "others may read")
	assert.False(t, privateEnough(info(0o660)), "a group may write")
	if os.Getuid() == 0 {
		assert.True(t, privateEnough(info(0o640)), "owned by root, read by a group")
		assert.True(t, privateEnough(info(0o440)))
		require.NoError(t, os.Chown(path, 65534, 65534))
		assert.False(t, privateEnough(info(0o640)), "read by a group, owned by another user")
	} else {
		assert.False(t, privateEnough(info(0o640)), "read by a group, owned by this user")
	}
}

// TestTwoFactorOffWithPostgres: PostgreSQL without -key-file starts, with
// a warning that two-factor authentication is off.
func TestTwoFactorOffWithPostgres(t *testing.T) {
	t.Parallel()
	lines := startLog(t, "-db", testdb.DSN(t, database.Postgres))
	l := logged(lines, "two-factor authentication is off")
	require.NotNil(t, l, "%v", lines)
	assert.Equal(t, "WARN", l["level"])
	assert.Equal(t, false, logged(lines, "listening")["two_factor"])
	assert.Equal(t, "", logged(lines, "listening")["key_file"])
}

// TestKeyRotation: secrets stored under a key that is missing from the
// file are reported at start (the service still starts); with the new key
// first and the old one after it, a start moves every secret to the new
// key and says how many; the next start moves none, and the old key can
// then leave the file.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	old, oldLine := newKey(t, dir, "old")
	_, newLine := newKey(t, dir, "new")

	// A user with a factor and another with a pending enrollment, under the
	// old key.
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

	keys := filepath.Join(dir, "rotating.keys")
	start := func(lines ...string) []map[string]any {
		t.Helper()
		writeKeys(t, keys, lines...)
		return startLog(t, "-db", db, "-key-file", keys)
	}

	lines := start(newLine)
	l := logged(lines, "under a key missing from the key file")
	require.NotNil(t, l, "%v", lines)
	assert.Equal(t, "ERROR", l["level"])
	assert.Contains(t, l["err"], `"old"`, "the missing key's id")
	require.NotNil(t, logged(lines, "listening"), "the service starts all the same")

	l = logged(start(newLine, oldLine), "re-encrypted secrets under the current key")
	require.NotNil(t, l)
	assert.Equal(t, float64(2), l["moved"], "the factor and the enrollment")
	assert.Equal(t, "new", l["key_id"])

	l = logged(start(newLine, oldLine), "re-encrypted secrets under the current key")
	require.NotNil(t, l)
	assert.Equal(t, float64(0), l["moved"])

	lines = start(newLine)
	assert.Nil(t, logged(lines, "missing from the key file"), "the old key is no longer needed")
	assert.Nil(t, logged(lines, "re-encrypted"))
}

// TestLostKeyFileRefused: the key file beside a SQLite database is deleted
// while the database holds TOTP secrets. serve refuses to start, naming the
// keys and how many secrets each encrypts and the ways on, instead of
// making a new key that decrypts none of them; "keys create" makes a key
// file with a new id, and serve then starts and says which key is missing.
func TestLostKeyFileRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	lost, _ := newKey(t, dir, "lost")
	ring, err := auth.ReadKeyFile(lost)
	require.NoError(t, err)
	store, err := auth.Open(ctx, db, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: ring})
	require.NoError(t, err)
	u, err := store.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "password-x"})
	require.NoError(t, err)
	_, err = store.EnrollTOTP(ctx, u.ID)
	require.NoError(t, err)
	require.NoError(t, store.Close())

	var stderr bytes.Buffer
	code := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-db", db}, func(string) string { return "" }, io.Discard, &stderr)
	assert.Equal(t, 1, code, stderr.String())
	assert.Contains(t, stderr.String(), "lost (1)", "the key and its secrets")
	assert.Contains(t, stderr.String(), "keys create")
	assert.NoFileExists(t, db+".keys", "no key made silently")

	var stdout bytes.Buffer
	stderr.Reset()
	require.Equal(t, 0, run(ctx, []string{"keys", "create", "-db", db}, func(string) string { return "" }, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), db+".keys")
	made, err := auth.ReadKeyFile(db + ".keys")
	require.NoError(t, err)
	assert.NotEqual(t, "lost", made.Current)
	require.Equal(t, 1, run(ctx, []string{"keys", "create", "-db", db}, func(string) string { return "" }, &stdout, &stderr),
		"never over an existing file")

	lines := startLog(t, "-db", db)
	l := logged(lines, "under a key missing from the key file")
	require.NotNil(t, l, "%v", lines)
	assert.Contains(t, l["err"], `"lost"`)
	require.NotNil(t, logged(lines, "listening"))
}

// TestServeReloadsKeyFile: "credstore keys rotate" beside a running serve.
// serve reads the changed key file (the event it logs is what the test
// waits for) and keeps answering without a restart: it publishes and signs
// with the token-signing key the rotation made under the new key, rather
// than replacing a key it could not decrypt. No password is hashed, so the
// test does not depend on how fast the machine runs bcrypt.
func TestServeReloadsKeyFile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	keys, oldLine := newKey(t, dir, "old")
	_, newLine := newKey(t, dir, "new")
	addr, stderr, done := startServe(ctx, t, "-db", db, "-key-file", keys)
	jwks := func() []string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/.well-known/jwks.json")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var set struct{ Keys []struct{ Kid string } }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	first := jwks()
	require.Len(t, first, 1, "the first signing key, under the old key")

	writeKeys(t, keys, newLine, oldLine)
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"keys", "rotate", "-db", db, "-key-file", keys}, func(string) string { return "" }, &out, &errOut), errOut.String())
	_, rotated, ok := strings.Cut(strings.TrimSpace(out.String()), "new token-signing key ")
	require.True(t, ok, out.String())
	require.Eventually(t, func() bool {
		return strings.Contains(stderr.String(), `"msg":"key file reloaded","path":"`+keys+`","key_id":"new"`)
	},
		testdb.Patience, 10*time.Millisecond, "serve reads the changed file: %s", stderr)
	assert.ElementsMatch(t, []string{first[0], rotated}, jwks(), "the rotation's key, opened with the new key; none made in its place")
	assert.NotContains(t, stderr.String(), "cannot be decrypted")

	writeKeys(t, keys, "not a key line")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "key file not reloaded") },
		testdb.Patience, 10*time.Millisecond, "a broken file is refused: %s", stderr)
	assert.ElementsMatch(t, []string{first[0], rotated}, jwks(), "and the keys read before stay in use")
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
}
