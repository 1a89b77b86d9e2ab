package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
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

		// A dry run only reads, so it needs the database to exist (the
		// import itself would create it).
		created, err := auth.Open(ctx, dsn, auth.Config{})
		require.NoError(t, err)
		require.NoError(t, created.Close())
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

// TestReadCSVUnreadableRecords: a record the CSV reader cannot read (a
// quoted first field followed by more text, a bare quote, a quote never
// closed) is rejected by its line number, never a panic, and the records
// after it are read with their own line numbers.
func TestReadCSVUnreadableRecords(t *testing.T) {
	t.Parallel()
	in := "email,password\n" +
		"\"john doe\"@example.com,secret-password-2\n" + // line 2: the issue's
		"ann@example.com,ann-password-3\n" +
		"bob@exa\"mple.com,bob-password-4\n" + // line 4: a bare quote
		"\"\"\"john doe\"\"@example.com\",john-password-5\n" + // line 5: quoted as RFC 4180 says
		"cy@example.com,cy-password-6,extra\n" + // line 6: a field too many
		"dee@example.com,dee-password-7\n" +
		"\"eve@example.com,eve-password-8\n" + // line 8: never closed
		"fay@example.com,fay-password-9\n"
	rows, rejected, err := readCSV(strings.NewReader(in), 1)
	require.NoError(t, err)
	got := map[int]string{}
	for _, r := range rows {
		got[r.Line] = r.Email
	}
	assert.Equal(t, map[int]string{3: "ann@example.com", 5: `"john doe"@example.com`, 7: "dee@example.com"}, got)
	lines := map[int]string{}
	for _, r := range rejected {
		lines[r.line] = r.reason
		assert.NotContains(t, r.reason, "password", "line %d: never the record", r.line)
	}
	require.Len(t, lines, 4, "%v", rejected)
	for _, line := range []int{2, 4, 6, 8} {
		assert.Contains(t, lines[line], "not a CSV record", "line %d", line)
	}
	assert.Contains(t, lines[8], "at line 9", "the lines a quote swallowed are named")

	// Resuming: the header is read, the lines before from are not.
	rows, rejected, err = readCSV(strings.NewReader(in), 5)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, []int{5, 7}, []int{rows[0].Line, rows[1].Line})
	assert.Len(t, rejected, 2, "lines 6 and 8")
}

// TestReadJSONLinesBOMAndLongLines: a byte order mark does not make line 1
// unreadable; a line longer than maxJSONLine (10 MB here) is rejected by its
// number and the lines after it are read; CRLF line endings are read.
func TestReadJSONLinesBOMAndLongLines(t *testing.T) {
	t.Parallel()
	long := `{"email":"big@example.com","password":"` + strings.Repeat("x", 10<<20) + `"}`
	in := byteOrderMark + `{"email":"ann@example.com","password":"ann-password-1"}` + "\n" +
		long + "\n" +
		`{"email":"bob@example.com","password":"bob-password-3"}` + "\r\n" +
		"\n" +
		`{"email":"cy@example.com","password":"cy-password-5","created_at":"yesterday"}` + "\n" +
		strings.Repeat("y", maxJSONLine+1) + // line 6: too long, at the end without a newline
		""
	rows, rejected, err := readJSONLines(strings.NewReader(in), 1)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, 1, rows[0].Line)
	assert.Equal(t, "ann@example.com", rows[0].Email)
	assert.Equal(t, 3, rows[1].Line)
	assert.Equal(t, "bob@example.com", rows[1].Email)
	require.Len(t, rejected, 3, "%v", rejected)
	assert.Equal(t, 2, rejected[0].line)
	assert.Contains(t, rejected[0].reason, "longer than")
	assert.Equal(t, rejectedLine{5, "created_at: want an RFC 3339 time, such as 2026-01-02T15:04:05Z"}, rejected[1])
	assert.Equal(t, 6, rejected[2].line)

	rows, rejected, err = readJSONLines(strings.NewReader(in), 3)
	require.NoError(t, err)
	require.Len(t, rows, 1, "from line 3 on")
	assert.Equal(t, 3, rows[0].Line)
	assert.Len(t, rejected, 2)
}

// cancelOnWrite is an import's standard error that cancels its context
// once the import reports progress: an interrupt after some batches
// committed, at a point the test knows.
type cancelOnWrite struct {
	testdb.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "imported or rejected") {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// TestUsersImportStopsAndResumes: an import interrupted after some batches
// says exactly how many users it committed and the line to resume from:
// every valid line before it is in the database, none from it on, and the
// rejected lines before it are listed. Run again with -from-line, it
// imports the rest, and reports the rejected lines after that line only.
func TestUsersImportStopsAndResumes(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		dir := t.TempDir()
		hash, err := bcrypt.GenerateFromPassword([]byte("imported-password-1"), 4)
		require.NoError(t, err)
		const lines = 2500
		var in bytes.Buffer
		for i := 1; i <= lines; i++ {
			switch i {
			case 5:
				in.WriteString(`{"email":"not an address","password_hash":"` + string(hash) + "\"}\n")
			case 2400:
				in.WriteString("{\"email\":\n")
			default:
				fmt.Fprintf(&in, `{"email":"user%d@example.com","password_hash":"%s"}`+"\n", i, hash)
			}
		}
		file := filepath.Join(dir, "users.jsonl")
		require.NoError(t, os.WriteFile(file, in.Bytes(), 0o600))
		args := []string{"users", "import", "-db", dsn, "-log-file", filepath.Join(dir, "users.log"), "-no-backup"}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout bytes.Buffer
		stderr := &cancelOnWrite{cancel: cancel}
		code := runIO(ctx, append(args, file), testEnv(nil), nil, &stdout, stderr)
		assert.Equal(t, 1, code)
		m := regexp.MustCompile(`stopped at line (\d+): imported (\d+), rejected 1, of the lines before it\n`).FindStringSubmatch(stdout.String())
		require.NotNil(t, m, "stdout %q, stderr %q", stdout.String(), stderr.String())
		resume, _ := strconv.Atoi(m[1])
		imported, _ := strconv.Atoi(m[2])
		assert.Contains(t, stderr.String(), "interrupted")
		assert.Contains(t, stdout.String(), fmt.Sprintf("-from-line %d", resume))
		assert.Contains(t, stderr.String(), "line 5: ")
		assert.NotContains(t, stderr.String(), "line 2400: ", "after the line to resume from")
		assert.Less(t, resume, lines, "stopped before the end")

		raw := testdb.Raw(t, dsn)
		emails := map[string]bool{}
		rows, err := raw.Query("SELECT email FROM users")
		require.NoError(t, err)
		for rows.Next() {
			var e string
			require.NoError(t, rows.Scan(&e))
			emails[e] = true
		}
		require.NoError(t, rows.Err())
		assert.Len(t, emails, imported, "the users it says it committed, no more, no fewer")
		for i := 1; i <= lines; i++ {
			if i != 5 && i != 2400 {
				assert.Equal(t, i < resume, emails[fmt.Sprintf("user%d@example.com", i)], "line %d", i)
			}
		}

		stdout.Reset()
		var rest bytes.Buffer
		code = runIO(context.Background(), append(args, "-from-line", strconv.Itoa(resume), file), testEnv(nil), nil, &stdout, &rest)
		assert.Equal(t, 1, code, rest.String())
		assert.Equal(t, fmt.Sprintf("imported %d, rejected 1\n", lines-2-imported), stdout.String())
		assert.Contains(t, rest.String(), "line 2400: ")
		assert.NotContains(t, rest.String(), "line 5: ")
		var n int
		require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM users").Scan(&n))
		assert.Equal(t, lines-2, n, "every valid line imported once")
	})
}

// TestUsersExportImportKeepsIdentity: an export, as JSON lines or CSV,
// imports into another database of the same engine with each user's
// public_id, created_at and hash; a second export of it is the first but
// for id and updated_at. An export never creates the database it is given.
func TestUsersExportImportKeepsIdentity(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		dir := t.TempDir()
		engine := database.SQLite
		if strings.HasPrefix(dsn, "postgres") {
			engine = database.Postgres
		}
		hash, err := bcrypt.GenerateFromPassword([]byte("imported-password-1"), 4)
		require.NoError(t, err)
		in := filepath.Join(dir, "in.jsonl")
		require.NoError(t, os.WriteFile(in, []byte(
			`{"email":"ann@example.com","username":"ann","password_hash":"`+string(hash)+`","created_at":"2020-02-29T10:11:12.345678+01:00","public_id":"0190A5B2-3C4D-7E5F-8A6B-7C8D9E0F1A2B"}`+"\n"+
				`{"email":"bob@example.com","phone":"+15551234567","is_admin":true,"password_hash":"`+string(hash)+`"}`+"\n"+
				`{"email":"cy@example.com","password_hash":"`+string(hash)+`","public_id":"not-a-uuid"}`+"\n"+
				`{"email":"dee@example.com","password_hash":"`+string(hash)+`","created_at":"2999-01-01T00:00:00Z"}`+"\n"), 0o600))
		importInto := func(dsn, file string) (int, string) {
			var stdout, stderr bytes.Buffer
			code := runIO(ctx, []string{"users", "import", "-db", dsn, "-log-file", filepath.Join(dir, "users.log"), "-no-backup", file},
				testEnv(nil), nil, &stdout, &stderr)
			return code, stdout.String() + stderr.String()
		}
		code, out := importInto(dsn, in)
		require.Equal(t, 1, code, out)
		assert.Contains(t, out, "line 3: invalid input: public_id")
		assert.Contains(t, out, "line 4: invalid input: created_at must not be in the future")
		assert.Contains(t, out, "imported 2, rejected 2")

		export := func(dsn, format string) []exportedRecord {
			t.Helper()
			file := filepath.Join(t.TempDir(), "export."+format)
			var stdout, stderr bytes.Buffer
			require.Equal(t, 0, usersExport(ctx, []string{"-db", dsn, "-with-hashes", "-format", format, "-o", file}, testEnv(nil), &stdout, &stderr), stderr.String())
			var rows []auth.ImportedUser
			var rejected []rejectedLine
			f, err := os.Open(file)
			require.NoError(t, err)
			defer f.Close()
			if format == "csv" {
				rows, rejected, err = readCSV(f, 1)
			} else {
				rows, rejected, err = readJSONLines(f, 1)
			}
			require.NoError(t, err)
			require.Empty(t, rejected)
			var recs []exportedRecord
			for _, r := range rows {
				recs = append(recs, exportedRecord{PublicID: r.PublicID, Username: r.Username, Email: r.Email, Phone: r.Phone,
					IsAdmin: r.IsAdmin, CreatedAt: r.CreatedAt.UTC(), PasswordHash: r.PasswordHash})
			}
			return recs
		}
		first := export(dsn, "jsonl")
		require.Len(t, first, 2)
		assert.Equal(t, "0190a5b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", first[0].PublicID, "kept, in the store's case")
		assert.Equal(t, time.Date(2020, 2, 29, 9, 11, 12, 345678000, time.UTC), first[0].CreatedAt)
		assert.NotEmpty(t, first[1].PublicID, "a new one")
		assert.WithinDuration(t, time.Now(), first[1].CreatedAt, time.Hour, "created now")

		for _, format := range []string{"jsonl", "csv"} {
			file := filepath.Join(dir, "all."+format)
			var stdout, stderr bytes.Buffer
			require.Equal(t, 0, usersExport(ctx, []string{"-db", dsn, "-with-hashes", "-format", format, "-o", file}, testEnv(nil), &stdout, &stderr), stderr.String())
			other := testdb.DSN(t, engine)
			code, out := importInto(other, file)
			require.Equal(t, 0, code, out)
			assert.Equal(t, first, export(other, format), "%s: the same users, ids and times", format)
			code, out = importInto(other, file)
			assert.Equal(t, 1, code, "%s: a second import adds nobody", format)
			assert.Contains(t, out, "imported 0, rejected 2")
		}

		missing := filepath.Join(dir, "typo.db")
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 1, usersExport(ctx, []string{"-db", missing}, testEnv(nil), &stdout, &stderr))
		assert.Contains(t, stderr.String(), "no such database")
		_, err = os.Stat(missing)
		assert.ErrorIs(t, err, os.ErrNotExist, "an export creates no database")
	})
}
