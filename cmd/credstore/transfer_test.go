package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// testEnv is the environment of a test command.
func testEnv(extra map[string]string) func(string) string {
	return func(k string) string { return extra[k] }
}

// TestUsersImportExport: 3,000 lines (1,000 under -race), some invalid, import with exact
// counts, every rejected line named, and no user without a credential; a
// dry run writes nothing; an export with hashes imports into another
// database and its users log in there with their passwords.
func TestUsersImportExport(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		dir := t.TempDir()
		hash, err := bcrypt.GenerateFromPassword([]byte("imported-password-1"), 4)
		require.NoError(t, err)

		// Mostly existing hashes (cheap to import), one in ten plaintext
		// passwords (hashed on every core), and eight kinds of bad line.
		// Three thousand lines: thirty batches of a hundred, the bad lines
		// in different batches. Under the
		// race detector, which makes every SQLite statement many times
		// slower and finds nothing more in a longer import, a thousand.
		// (Throughput is BenchmarkImportUsers's business, not this test's.)
		lines, tenth := 3000, 300
		if raceEnabled {
			lines, tenth = 1000, 100
		}
		var in bytes.Buffer
		bad := map[int]string{} // line → the field the rejection names
		for i := 1; i <= lines; i++ {
			r := exportedRecord{Email: fmt.Sprintf("user%d@example.com", i), PasswordHash: string(hash)}
			if i%10 == 0 {
				r.PasswordHash, r.Password = "", fmt.Sprintf("plain-password-%d", i)
			}
			switch i {
			case 17:
				r.Email, bad[i] = "not an address", "email"
			case 123:
				r.Email, bad[i] = "user122@example.com", "email" // taken by line 122
			case 2 * tenth:
				r.Password, bad[i] = "short", "password"
			case 3*tenth + 1:
				r.PasswordHash, bad[i] = "$2a$04$nothash", "password_hash"
			case 4*tenth + 1:
				r.PasswordHash, bad[i] = "", "password"
			case 5*tenth + 1:
				r.Password, bad[i] = "both-given-1", "password"
			case 6*tenth + 1:
				r.Phone, bad[i] = "12345", "phone"
			}
			line, err := json.Marshal(r)
			require.NoError(t, err)
			if i == 7*tenth+1 {
				line, bad[i] = []byte(fmt.Sprintf(`{"email": "user%d@example.com", "password": `, i)), "JSON"
			}
			in.Write(line)
			in.WriteByte('\n')
		}
		file := filepath.Join(dir, "users.jsonl")
		require.NoError(t, os.WriteFile(file, in.Bytes(), 0o600))

		logs := filepath.Join(dir, "logs", "user_management.log")
		backups := filepath.Join(dir, "backups")
		importInto := func(dsn string, args ...string) (int, string, string) {
			var stdout, stderr bytes.Buffer
			code := runIO(ctx, append([]string{"users", "import", "-db", dsn, "-bcrypt-cost", "4", "-log-file", logs,
				"-backup-dir", backups, "-no-backup=" + fmt.Sprint(strings.HasPrefix(dsn, "postgres"))}, args...),
				testEnv(nil), nil, &stdout, &stderr)
			return code, stdout.String(), stderr.String()
		}

		code, out, errOut := importInto(dsn, "-dry-run", file)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "line 17: ", "a dry run names the rejected lines too")
		assert.True(t, strings.HasSuffix(out, fmt.Sprintf("would import %d, rejected %d\n", lines-len(bad), len(bad))), "%q", out)
		raw := testdb.Raw(t, dsn)
		var n int
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM users").Scan(&n))
		assert.Zero(t, n, "a dry run writes nothing")

		code, out, errOut = importInto(dsn, file)
		assert.Equal(t, 1, code, errOut)
		assert.True(t, strings.HasSuffix(out, fmt.Sprintf("imported %d, rejected %d\n", lines-len(bad), len(bad))), "%q", out)
		for line, field := range bad {
			assert.Contains(t, errOut, fmt.Sprintf("line %d: ", line), "line %d (%s) is named", line, field)
		}
		assert.NotContains(t, errOut, "plain-password", "no password in the report")
		assert.NotContains(t, errOut, string(hash), "no hash in the report")
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM users").Scan(&n))
		assert.Equal(t, lines-len(bad), n)
		require.NoError(t, raw.QueryRow(
			"SELECT COUNT(*) FROM users LEFT JOIN credentials ON credentials.user_id = users.id WHERE credentials.user_id IS NULL").Scan(&n))
		assert.Zero(t, n, "no user without a credential")
		logged, err := os.ReadFile(logs)
		require.NoError(t, err)
		assert.Contains(t, string(logged), fmt.Sprintf(`"outcome":"imported %d, rejected %d"`, lines-len(bad), len(bad)))
		assert.NotContains(t, string(logged), "password\"", "names, never values")
		if !strings.HasPrefix(dsn, "postgres") {
			taken, err := filepath.Glob(filepath.Join(backups, "*.db"))
			require.NoError(t, err)
			assert.Len(t, taken, 1, "the database was backed up before the import")
		}

		// Export with hashes, import into a fresh database: the users log in.
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, usersExport(ctx, []string{"-db", dsn, "-with-hashes"}, testEnv(nil), &stdout, &stderr),
			"hashes go to a file, never to standard output")
		exported := filepath.Join(dir, "export.jsonl")
		stderr.Reset()
		require.Equal(t, 0, usersExport(ctx, []string{"-db", dsn, "-with-hashes", "-o", exported}, testEnv(nil), &stdout, &stderr), stderr.String())
		fi, err := os.Stat(exported)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		require.Equal(t, 1, usersExport(ctx, []string{"-db", dsn, "-with-hashes", "-o", exported}, testEnv(nil), &stdout, &stderr),
			"an existing file is never overwritten")

		stdout.Reset()
		require.Equal(t, 0, usersExport(ctx, []string{"-db", dsn}, testEnv(nil), &stdout, &stderr))
		assert.NotContains(t, stdout.String(), "$2a$", "no hash without -with-hashes")
		assert.Equal(t, lines-len(bad), strings.Count(stdout.String(), "\n"))

		other := filepath.Join(dir, "other.db")
		code, out, errOut = importInto(other, exported)
		require.Equal(t, 0, code, errOut)
		assert.True(t, strings.HasSuffix(out, fmt.Sprintf("imported %d, rejected 0\n", lines-len(bad))), "%q", out)
		s, err := auth.Open(ctx, other, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
		require.NoError(t, err)
		defer s.Close()
		_, err = s.Login(ctx, "user1@example.com", "imported-password-1")
		assert.NoError(t, err, "a hash imported as it was")
		_, err = s.Login(ctx, "user10@example.com", "plain-password-10")
		assert.NoError(t, err, "a plaintext password hashed at import, exported as its hash")
		events, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventUserRegistered}, Limit: 1})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.Equal(t, auth.ActorOS, events[0].Actor.Kind, "recorded as the operating-system user")
	})
}

// TestUsersCSV: a CSV export with hashes imports into another database and
// its users log in there; bad records are named by line, and a header with
// an unknown column refuses the file before anything is written.
func TestUsersCSV(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		dir := t.TempDir()
		importFile := func(file string) (int, string, string) {
			var stdout, stderr bytes.Buffer
			code := runIO(ctx, []string{"users", "import", "-bcrypt-cost", "4", "-log-file", filepath.Join(dir, "users.log"),
				"-backup-dir", filepath.Join(dir, "backups"), "-no-backup=" + fmt.Sprint(strings.HasPrefix(dsn, "postgres")), file},
				testEnv(map[string]string{"CREDSTORE_DB": dsn}), nil, &stdout, &stderr)
			return code, stdout.String(), stderr.String()
		}
		in := filepath.Join(dir, "in.csv")
		require.NoError(t, os.WriteFile(in, []byte("\ufeffemail,username,is_admin,password\n"+
			"ann@example.com,ann,true,ann-password-1\n"+
			"\"bob@example.com\",\"bob\",false,\"bob, with a comma 2\"\n"+
			"cy@example.com,cy,maybe,cy-password-3\n"+ // line 4: is_admin
			"dee@example.com,dee\n"+ // line 5: too few fields
			"eve@example.com,eve,,short\n"), 0o600)) // line 6: password
		code, out, errOut := importFile(in)
		assert.Equal(t, 1, code, errOut)
		assert.True(t, strings.HasSuffix(out, "imported 2, rejected 3\n"), out)
		for _, want := range []string{"line 4: is_admin", "line 5: not a CSV record", "line 6: "} {
			assert.Contains(t, errOut, want)
		}
		assert.NotContains(t, errOut, "short", "no password in the report")

		unknown := filepath.Join(dir, "unknown.csv")
		require.NoError(t, os.WriteFile(unknown, []byte("email,is_admin,role\nzed@example.com,false,root\n"), 0o600))
		code, _, errOut = importFile(unknown)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, `unknown column "role"`)

		exported := filepath.Join(dir, "out.csv")
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, usersExport(ctx, []string{"-db", dsn, "-format", "csv", "-with-hashes", "-o", exported}, testEnv(nil), &stdout, &stderr), stderr.String())
		data, err := os.ReadFile(exported)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		require.Len(t, lines, 3)
		assert.Equal(t, "id,public_id,username,email,phone,is_admin,created_at,updated_at,password_hash", lines[0])
		assert.Contains(t, lines[1]+lines[2], `,ann@example.com,,true,`)

		other := filepath.Join(dir, "other.db")
		var o1, e1 bytes.Buffer
		require.Equal(t, 0, runIO(ctx, []string{"users", "import", "-db", other, "-bcrypt-cost", "4", "-log-file", filepath.Join(dir, "users.log"),
			"-backup-dir", filepath.Join(dir, "backups"), exported}, testEnv(nil), nil, &o1, &e1), e1.String())
		s, err := auth.Open(ctx, other, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
		require.NoError(t, err)
		defer s.Close()
		u, err := s.Login(ctx, "bob", "bob, with a comma 2")
		require.NoError(t, err, "a quoted field with a comma survives both ways")
		assert.False(t, u.IsAdmin)
		u, err = s.Login(ctx, "ann@example.com", "ann-password-1")
		require.NoError(t, err)
		assert.True(t, u.IsAdmin)
	})
}
