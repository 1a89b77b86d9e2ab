package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestUsersImportSaltedArgon2: the layout of the admin tool credstore
// replaces (an Argon2id PHC hash of password+salt, the salt in its own
// password_salt column) imports from CSV, and its users log in with their
// old passwords, which that login rehashes; a hostile hash is rejected by
// its line.
func TestUsersImportSaltedArgon2(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		dir := t.TempDir()
		enc := base64.RawStdEncoding.EncodeToString
		salt16 := []byte("0123456789abcdef")
		phc := func(secret string, m uint32) string {
			key := argon2.IDKey([]byte(secret), salt16, 1, m, 1, 32)
			return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", m, enc(salt16), enc(key))
		}
		csv := "email,username,password_hash,password_salt\n" +
			"ada@example.com,ada,\"" + phc("ada-old-password"+"f3a9c1", 32) + "\",f3a9c1\n" +
			"bob@example.com,bob,\"" + phc("bob-old-password", 32) + "\",\n" +
			"eve@example.com,eve,\"" + phc("eve", 4<<20) + "\",\n"
		file := filepath.Join(dir, "old-users.csv")
		require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))

		var stdout, stderr bytes.Buffer
		code := runIO(ctx, []string{"users", "import", "-db", dsn, "-bcrypt-cost", "4", "-password-hash", "bcrypt",
			"-log-file", filepath.Join(dir, "log"), "-no-backup", file}, testEnv(nil), nil, &stdout, &stderr)
		assert.Equal(t, 1, code, stderr.String())
		assert.Contains(t, stderr.String(), "line 4: ")
		assert.Contains(t, stderr.String(), "password_hash")
		assert.True(t, strings.HasSuffix(stdout.String(), "imported 2, rejected 1\n"), "%q", stdout.String())

		s, err := auth.Open(ctx, dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		raw := testdb.Raw(t, dsn)
		for _, name := range []string{"ada", "bob"} {
			_, err := s.Login(ctx, name, name+"-old-password")
			require.NoError(t, err, "%s logs in with the old password", name)
			var h string
			require.NoError(t, raw.QueryRow("SELECT password_hash FROM credentials JOIN users ON users.id = credentials.user_id WHERE username = '"+name+"'").Scan(&h))
			assert.True(t, strings.HasPrefix(h, "$2a$04$"), "%s rehashed to bcrypt: %.20q…", name, h)
		}
	})
}
