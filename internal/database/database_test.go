package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openFile opens a migrated database in a new file, closed when t ends.
func openFile(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	d, err := Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d, path
}

// insertUserSQL inserts a valid user with literal values.
func insertUserSQL(name string, n int) string {
	return fmt.Sprintf(`INSERT INTO users (public_id, username, email, email_canonical, is_admin, created_at, updated_at)
		VALUES ('01900000-0000-7000-8000-%012d', '%s', '%s@example.com', '%s@example.com', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, n, name, name, name)
}

func TestSqliteDSN(t *testing.T) {
	t.Parallel()
	fileSettings := map[string]string{
		"_foreign_keys": "1", "_busy_timeout": "5000", "_time_format": "sqlite",
		"_txlock": "immediate", "_journal_mode": "WAL", "_synchronous": "NORMAL",
	}
	cases := []struct {
		name     string
		dsn      string
		memory   bool
		wantName string            // the part before '?'
		wantKeep map[string]string // caller parameters that must survive
		wantErr  string
	}{
		{name: "relative path", dsn: "credstore.db", wantName: "file:credstore.db"},
		{name: "absolute path", dsn: "/var/lib/credstore/credstore.db", wantName: "file:/var/lib/credstore/credstore.db"},
		{name: "path with parameters", dsn: "credstore.db?mode=rwc", wantName: "file:credstore.db", wantKeep: map[string]string{"mode": "rwc"}},
		{name: "file URI", dsn: "file:credstore.db", wantName: "file:credstore.db"},
		{
			name: "file URI keeps its parameters", dsn: "file:/data/c.db?mode=rwc&cache=private",
			wantName: "file:/data/c.db", wantKeep: map[string]string{"mode": "rwc", "cache": "private"},
		},
		{name: "file URI with an escaped #", dsn: "file:a%23b.db", wantName: "file:a%23b.db"},
		{name: "a required setting repeated", dsn: "c.db?_foreign_keys=1&_txlock=immediate", wantName: "file:c.db"},
		{name: "a required setting in another case", dsn: "c.db?_journal_mode=wal&_synchronous=normal", wantName: "file:c.db"},

		{name: "foreign keys off", dsn: "c.db?_foreign_keys=0", wantErr: "_foreign_keys=0"},
		{name: "rollback journal", dsn: "c.db?_journal_mode=DELETE", wantErr: "_journal_mode=DELETE"},
		{name: "deferred transactions", dsn: "c.db?_txlock=deferred", wantErr: "_txlock=deferred"},
		{name: "another busy timeout", dsn: "c.db?_busy_timeout=100", wantErr: "_busy_timeout=100"},
		{name: "synchronous FULL", dsn: "c.db?_synchronous=FULL", wantErr: "_synchronous=FULL"},
		{name: "another time format", dsn: "file:c.db?_time_format=", wantErr: "_time_format="},
		{name: "a setting given twice", dsn: "c.db?_txlock=immediate&_txlock=deferred", wantErr: "_txlock"},
		{name: "raw pragma", dsn: "c.db?_pragma=foreign_keys(0)", wantErr: "_pragma"},
		// Every driver parameter modernc.org/sqlite v1.61 documents that
		// credstore does not set, and its aliases.
		{name: "time zone", dsn: "c.db?_timezone=Europe/Berlin", wantErr: "_timezone"},
		{name: "time zone UTC", dsn: "c.db?_timezone=UTC", wantErr: "_timezone"},
		{name: "integer time format", dsn: "c.db?_time_integer_format=unix", wantErr: "_time_integer_format"},
		{name: "int to time", dsn: "c.db?_inttotime=1", wantErr: "_inttotime"},
		{name: "text to time", dsn: "c.db?_texttotime=1", wantErr: "_texttotime"},
		{name: "query only", dsn: "c.db?_query_only=1", wantErr: "_query_only"},
		{name: "auto vacuum", dsn: "c.db?_auto_vacuum=FULL", wantErr: "_auto_vacuum"},
		{name: "vacuum alias", dsn: "c.db?_vacuum=1", wantErr: "_vacuum"},
		{name: "fk alias", dsn: "c.db?_fk=1", wantErr: "_fk"},
		{name: "timeout alias", dsn: "c.db?_timeout=5000", wantErr: "_timeout"},
		{name: "journal alias", dsn: "c.db?_journal=WAL", wantErr: "_journal"},
		{name: "sync alias", dsn: "c.db?_sync=NORMAL", wantErr: "_sync"},
		{name: "double-quoted strings", dsn: "c.db?_dqs=0", wantErr: "_dqs"},
		{name: "defensive", dsn: "c.db?_defensive=1", wantErr: "_defensive"},
		{name: "error rc", dsn: "c.db?_error_rc=1", wantErr: "_error_rc"},
		{name: "a future driver parameter", dsn: "c.db?_something_new=1", wantErr: "_something_new"},
		{name: "a setting's name in another case", dsn: "c.db?_TXLOCK=immediate", wantErr: "_TXLOCK"},
		{name: "WAL on a memory database", dsn: "file:/m.db?vfs=memdb&_journal_mode=WAL", memory: true, wantErr: "_journal_mode"},
		{name: "SQLite's own parameters pass", dsn: "c.db?cache=private&mode=rwc&immutable=0", wantName: "file:c.db",
			wantKeep: map[string]string{"cache": "private", "mode": "rwc", "immutable": "0"}},
		{name: "mode=memory in Open", dsn: "file:c.db?mode=memory", wantErr: "OpenMemory"},
		{name: "plain :memory: in Open", dsn: ":memory:", wantErr: "OpenMemory"},
		{name: "memdb vfs in Open", dsn: "file:/x.db?vfs=memdb", wantErr: "OpenMemory"},
		{name: "# in a path", dsn: "C#/a#b.db", wantName: "file:C%23/a%23b.db"},
		{name: "% in a path", dsn: "100%/a%41.db", wantName: "file:100%25/a%2541.db"},
		{name: "malformed parameters", dsn: "file:c.db?x=%zz", wantErr: "DSN parameters"},

		{name: "memory", dsn: "file:/m.db?vfs=memdb", memory: true, wantName: "file:/m.db", wantKeep: map[string]string{"vfs": "memdb"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := sqliteDSN(tc.dsn, tc.memory)
			if tc.wantErr != "" {
				require.Error(t, err, "got %q", got)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			name, rawQuery, ok := strings.Cut(got, "?")
			require.True(t, ok, got)
			assert.Equal(t, tc.wantName, name)
			q, err := url.ParseQuery(rawQuery)
			require.NoError(t, err)
			for k, want := range fileSettings {
				if tc.memory && (k == "_journal_mode" || k == "_synchronous") {
					assert.NotContains(t, q, k, "memdb has no WAL")
					continue
				}
				assert.Equal(t, []string{want}, q[k], "setting %s", k)
			}
			for k, v := range tc.wantKeep {
				assert.Equal(t, v, q.Get(k), "caller's parameter %s", k)
			}
		})
	}
}

// TestOpenSettingsOnEveryConnection: the pragmas are DSN parameters, so every
// connection of the pool has them, not only the first.
func TestOpenSettingsOnEveryConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	for i := range 4 {
		// Held at once, so that each is a distinct connection.
		c, err := d.SQL().Conn(ctx)
		require.NoError(t, err)
		defer c.Close()
		var fk, busy, synchronous int
		var journal string
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy))
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&synchronous))
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal))
		assert.Equal(t, 1, fk, "connection %d: foreign_keys", i)
		assert.Equal(t, int(BusyTimeout.Milliseconds()), busy, "connection %d: busy_timeout", i)
		assert.Equal(t, 1, synchronous, "connection %d: synchronous NORMAL", i)
		assert.Equal(t, "wal", journal, "connection %d: journal_mode", i)
	}
}

// TestOpenPathWithSpecialCharacters: a plain path is the file's name, even
// with characters that mean something in a URI.
func TestOpenPathWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "C# 100%")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "a#b%41 c.db")
	d, err := Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Contains(t, names, "a#b%41 c.db", "the file must have exactly the name given")
}

func TestOpenRefusesBadDSN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, dsn := range []string{
		"", "   ",
		filepath.Join(dir, "a.db") + "?_foreign_keys=0",
		// Times stored with a local offset compare wrongly as text.
		filepath.Join(dir, "a.db") + "?_timezone=Europe/Berlin",
		// Times stored as integers cannot be scanned back.
		filepath.Join(dir, "a.db") + "?_time_integer_format=unix",
	} {
		d, err := Open(context.Background(), dsn)
		if d != nil {
			d.Close()
		}
		assert.Error(t, err, "DSN %q", dsn)
	}
	_, err := os.Stat(filepath.Join(dir, "a.db"))
	assert.True(t, os.IsNotExist(err), "a refused DSN must not create the file")
}

// secret is the password in every DSN of the redaction tests; it must never
// come out.
const secret = "Secret"

// dsnShapes are DSNs holding secret in the places a password ends up, with
// what Redact makes of them. Their hosts refuse connections at once.
var dsnShapes = []struct{ name, dsn, want string }{
	{"plain", "postgres://app:Secret@127.0.0.1:1/cred", "postgres://app@127.0.0.1:1/cred"},
	{"postgresql scheme", "postgresql://app:Secret@127.0.0.1:1/cred", "postgresql://app@127.0.0.1:1/cred"},
	{"upper-case scheme", "POSTGRES://app:Secret@127.0.0.1:1/cred", "POSTGRES://app@127.0.0.1:1/cred"},
	{"with parameters", "postgres://app:Secret@127.0.0.1:1/cred?sslmode=disable", "postgres://app@127.0.0.1:1/cred"},
	{"password parameter", "postgres://app@127.0.0.1:1/cred?password=Secret", "postgres://app@127.0.0.1:1/cred"},
	{"password parameter after others", "postgres://127.0.0.1:1/cred?sslmode=disable&password=Secret", "postgres://127.0.0.1:1/cred"},
	{"both", "postgres://app:Secret@127.0.0.1:1/cred?sslmode=disable&password=Secret", "postgres://app@127.0.0.1:1/cred"},
	{"/ in password", "postgres://u:42/Secret@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"# in password", "postgres://u:42#Secret@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"? in password", "postgres://u:42?Secret@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"@ in password", "postgres://u:42@Secret@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"@ and / in password", "postgres://u:a/b@Secret@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"all of them", "postgres://u:/?#@Secret/?#@127.0.0.1:1/cred?sslmode=disable", "postgres://u@127.0.0.1:1/cred"},
	{"password ending in ?password=", "postgres://u:Secret?password=x@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"bad escape in password", "postgres://u:Secret%zz@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"encoded password", "postgres://u:Secret%2F%40x@127.0.0.1:1/cred", "postgres://u@127.0.0.1:1/cred"},
	{"no user name", "postgres://:Secret@127.0.0.1:1/cred", "postgres://…@127.0.0.1:1/cred"},
	{"password where the user name goes", "postgres://u/Secret@127.0.0.1:1/cred", "postgres://…@127.0.0.1:1/cred"},
	{"parameter where the user name goes", "postgres://u?password=Secret@127.0.0.1:1/cred", "postgres://…@127.0.0.1:1/cred"},
	{"several hosts", "postgres://app:Secret@127.0.0.1:1,[::1]:1/cred?target_session_attrs=read-write", "postgres://app@127.0.0.1:1,[::1]:1/cred"},
	{"fragment", "postgres://app:Secret@127.0.0.1:1/cred#frag", "postgres://app@127.0.0.1:1/cred"},
	{"no host", "postgres://app:Secret", "postgres://…"},
	{"no host, a path", "postgres://app:Secret/cred", "postgres://…/cred"},
	{"key/value", "host=127.0.0.1 port=1 user=app password=Secret dbname=cred", "host=127.0.0.1 port=1 user=app dbname=cred"},
	{"key/value, quoted", "host = 127.0.0.1 password = 'a Secret \\' b' dbname=cred", "host=127.0.0.1 dbname=cred"},
	{"key/value, password only", "password=Secret", "(key/value DSN)"},
	{"key/value, ssl key password", "host=127.0.0.1 sslpassword=Secret", "host=127.0.0.1"},
	{"SQLite, parameters", "file:/nonexistent/credstore.db?_pragma=key('Secret')", "file:/nonexistent/credstore.db"},
	{"SQLite path, parameters", "/nonexistent/credstore.db?password=Secret", "/nonexistent/credstore.db"},
	{"SQLite, ://, in a parameter", "file:/nonexistent/c.db?x=a://Secret@b", "file:/nonexistent/c.db"},
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range dsnShapes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Redact(tc.dsn)
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, got, secret)
		})
	}
	for in, want := range map[string]string{
		"credstore.db":          "credstore.db",
		"file:data.db?mode=rwc": "file:data.db",
		"postgres://db/cred":    "postgres://db/cred",
		"postgres://db:5432":    "postgres://db:5432",
		"postgres://app@db/":    "postgres://app@db/",
	} {
		assert.Equal(t, want, Redact(in))
	}
}

// TestOpenErrorsHideThePassword opens every shape (none can succeed) and
// checks the error for the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range dsnShapes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d, err := Open(ctx, tc.dsn)
			if d != nil {
				d.Close()
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

// TestOpenRefusesAmbiguousPostgresURL: URLs that pgx would split elsewhere
// than Redact does are refused before pgx sees them; their errors would
// name a piece of the password as host or database.
func TestOpenRefusesAmbiguousPostgresURL(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://u:42/Secret@127.0.0.1:1/cred",
		"postgres://u:42@Secret@127.0.0.1:1/cred",
		"postgres://u:a/b@Secret@127.0.0.1:1/cred",
		"postgres://127.0.0.1:1/cred?application_name=a@b",
		"postgres://u?password=Secret@127.0.0.1:1/cred",
	} {
		_, err := Open(context.Background(), dsn)
		require.Error(t, err, dsn)
		assert.Contains(t, err.Error(), "percent-encode", dsn)
	}
	for _, dsn := range []string{
		"postgres://u:42?Secret@127.0.0.1:1/cred",
		"postgres://u:42#Secret@127.0.0.1:1/cred",
		"postgres://u:Secret%40%2F@127.0.0.1:1/cred?application_name=a%40b",
		"postgres://127.0.0.1:1/cred",
	} {
		assert.NoError(t, checkUserInfo(dsn), dsn)
	}
}

func TestKeyValueDSN(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]bool{
		"host=db user=app password=Secret dbname=app": true,
		"dbname=app":               true,
		"  host = db   port=5432 ": true,
		"host=db password='with spaces' sslmode=disable": true,
		"host=/var/run/postgresql dbname=app":            true,
		"application_name=x":                             true,

		"credstore.db":               false,
		"a=b.db":                     false, // no libpq keyword
		"mode=rwc":                   false,
		"./host=db":                  false,
		"/data/host=db":              false,
		"file:host=db":               false,
		"host=db?mode=rwc x":         false, // "x" is no pair
		"data base=1":                false,
		"host='unterminated":         false,
		"host='a'b":                  false,
		"=db":                        false,
		"":                           false,
		"postgres://u@db/app?host=x": false,
	} {
		assert.Equal(t, want, isKeyValueDSN(dsn), "%q", dsn)
	}
}

func TestOpenRefusesKeyValueDSN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	dsn := "host=127.0.0.1 user=app password=Secret dbname=app"
	_, err = Open(context.Background(), dsn)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "postgres://")
	assert.Contains(t, err.Error(), "key/value")
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, err.Error(), "127.0.0.1", "the DSN is not repeated")
	_, err = os.Stat(filepath.Join(wd, dsn))
	assert.True(t, os.IsNotExist(err), "no SQLite file named after the DSN")

	// A file whose name merely contains '=' is still a file.
	d, err := Open(context.Background(), filepath.Join(dir, "a=b.db"))
	require.NoError(t, err)
	require.NoError(t, d.Close())
}

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	count := func() int { return countUsers(t, d) }

	boom := errors.New("boom")
	err := d.InTx(ctx, func(ex Executor) error {
		_, err := ex.ExecContext(ctx, insertUserSQL("rolledback", 1))
		require.NoError(t, err)
		return boom
	})
	assert.ErrorIs(t, err, boom, "fn's error comes back as it is")
	assert.Zero(t, count(), "a failed transaction is rolled back")

	err = d.InTx(ctx, func(ex Executor) error {
		_, err := ex.ExecContext(ctx, insertUserSQL("committed", 2))
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, 1, count())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.Error(t, d.InTx(cancelled, func(Executor) error { return nil }), "a cancelled context begins nothing")
}

// TestInTxRetries: a transaction the server rolled back as a deadlock victim
// or for a serialization failure runs again, whole, up to TxAttempts times;
// any other error returns at once. The errors are made up here; the real
// deadlock is in TestInTxRetriesRealDeadlock.
func TestInTxRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	count := func() int { return countUsers(t, d) }
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	serialization := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}

	t.Run("succeeds on the third attempt", func(t *testing.T) {
		calls := 0
		err := d.InTx(ctx, func(ex Executor) error {
			calls++
			_, err := ex.ExecContext(ctx, insertUserSQL(fmt.Sprintf("retry%d", calls), 100+calls))
			require.NoError(t, err)
			switch calls {
			case 1:
				return deadlock
			case 2:
				return fmt.Errorf("update: %w", serialization)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3, calls)
		assert.Equal(t, 1, count(), "the failed attempts were rolled back")
	})

	t.Run("gives up after TxAttempts", func(t *testing.T) {
		calls := 0
		err := d.InTx(ctx, func(Executor) error { calls++; return deadlock })
		assert.Equal(t, TxAttempts, calls)
		assert.ErrorIs(t, err, deadlock)
		assert.Contains(t, err.Error(), "gave up after 5 attempts")
	})

	t.Run("other errors return at once", func(t *testing.T) {
		for _, e := range []error{
			&pgconn.PgError{Code: "23505"},
			&pgconn.PgError{Code: "55P03"},
			errors.New("deadlock detected"),
			sql.ErrNoRows,
		} {
			calls := 0
			err := d.InTx(ctx, func(Executor) error { calls++; return e })
			assert.Equal(t, 1, calls, "%v", e)
			assert.Same(t, e, err, "fn's error comes back as it is")
		}
	})

	t.Run("a cancelled context stops the retries", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		err := d.InTx(cctx, func(Executor) error {
			calls++
			cancel()
			return serialization
		})
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, serialization)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestTxBackoff(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt < TxAttempts; attempt++ {
		ceiling := 10 * time.Millisecond << (attempt - 1)
		for range 100 {
			b := txBackoff(attempt)
			assert.GreaterOrEqual(t, b, ceiling/2)
			assert.Less(t, b, ceiling)
		}
	}
}

func TestOpenMemorySharedAcrossConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := OpenMemory(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })

	// Held at once, so that each is a distinct connection of the pool.
	const n = 4
	held := make([]*sql.Conn, 0, n)
	for range n {
		c, err := d.SQL().Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	_, err = held[0].ExecContext(ctx, insertUserSQL("shared", 1))
	require.NoError(t, err)
	for i, c := range held {
		var users, fk int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&users))
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
		assert.Equal(t, 1, users, "connection %d sees the row", i)
		assert.Equal(t, 1, fk, "connection %d enforces foreign keys", i)
	}

	// And from many goroutines through the pool.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var users int
			if assert.NoError(t, d.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&users)) {
				assert.Equal(t, 1, users)
			}
		})
	}
	wg.Wait()
}

func TestOpenMemoryIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := OpenMemory(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	b, err := OpenMemory(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })

	_, err = a.SQL().ExecContext(ctx, insertUserSQL("onlyina", 1))
	require.NoError(t, err)
	var n int
	require.NoError(t, b.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
	assert.Zero(t, n, "a second memory database starts empty")
	require.NoError(t, a.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
	assert.Equal(t, 1, n)
}

// countUsers counts the rows of users.
func countUsers(t *testing.T, d *DB) int {
	t.Helper()
	var n int
	require.NoError(t, d.SQL().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM users").Scan(&n))
	return n
}
