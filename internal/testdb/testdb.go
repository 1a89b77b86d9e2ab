// Package testdb gives each test a fresh database on every engine under
// test, so that one engine-agnostic suite runs on all of them.
//
// SQLite is always tested. PostgreSQL is tested when the environment
// variable CREDSTORE_TEST_POSTGRES_URL holds a connection URL for a role that
// may create databases; each test gets a database of its own, created on that
// server and dropped when the test ends, so several runs can share one
// server. A test's PostgreSQL database is a copy (CREATE DATABASE ...
// TEMPLATE) of one that the test process migrated once, so that hundreds of
// tests do not each run every migration; tests of the migrations themselves
// ask for an empty database (EmptyDSN, RunEmpty). A database whose drop fails is left for a later run to sweep once
// it is an hour old. Without the variable the PostgreSQL subtests are skipped with a
// message saying how to enable them, except under CI=true, where they fail:
// CI must never pass by skipping an engine.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver for the admin pool

	"github.com/credstore/credstore/internal/database"
)

// PostgresURLEnv names the environment variable that enables the
// PostgreSQL run.
const PostgresURLEnv = "CREDSTORE_TEST_POSTGRES_URL"

// SkipMessage is how a skipped PostgreSQL test says how to enable it. CI
// looks for it in verbose output.
const SkipMessage = "PostgreSQL tests skipped: set " + PostgresURLEnv +
	"=postgres://user:pass@127.0.0.1:5432/postgres?sslmode=disable (a role that may CREATE DATABASE) to run them"

// Engines returns the engines every test runs on: SQLite, and PostgreSQL
// when PostgresURLEnv is set.
func Engines() []database.Engine {
	if os.Getenv(PostgresURLEnv) == "" {
		return []database.Engine{database.SQLite}
	}
	return []database.Engine{database.SQLite, database.Postgres}
}

// DSN returns the DSN of a fresh database of engine e that is removed when
// tb ends. On PostgreSQL it is already migrated to the latest version (a
// copy of the process's template); on SQLite it is a new file that the first
// Open creates and migrates. Either way, what auth.Open, database.Open or
// Raw then finds is the same: the latest schema and no rows but those the
// migrations seed. A test that opens it without migrating, or that tests
// the migrations, wants EmptyDSN. For PostgreSQL without PostgresURLEnv it
// skips tb (fails it under CI=true).
func DSN(tb testing.TB, e database.Engine) string {
	tb.Helper()
	return dsn(tb, e, true)
}

// EmptyDSN is DSN for a database with no schema at all (version 0), for the
// tests of migrations and of opening without migrating.
func EmptyDSN(tb testing.TB, e database.Engine) string {
	tb.Helper()
	return dsn(tb, e, false)
}

func dsn(tb testing.TB, e database.Engine, migrated bool) string {
	tb.Helper()
	switch e {
	case database.SQLite:
		return filepath.Join(tb.TempDir(), "credstore.db")
	case database.Postgres:
		return postgresDSN(tb, migrated)
	}
	tb.Fatalf("testdb: unknown engine %q", e)
	return ""
}

// Run runs fn as one subtest per engine, named after the engine, each with
// the DSN of a fresh database (DSN). The postgres subtest is always there:
// without PostgresURLEnv it is skipped with SkipMessage, so a run says what
// it left out.
func Run(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	run(t, true, fn)
}

// RunEmpty is Run with empty databases (EmptyDSN).
func RunEmpty(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	run(t, false, fn)
}

func run(t *testing.T, migrated bool, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range []database.Engine{database.SQLite, database.Postgres} {
		t.Run(string(e), func(t *testing.T) {
			fn(t, dsn(t, e, migrated))
		})
	}
}

// Raw opens the database at dsn, migrated, as a plain *sql.DB for
// statements that bypass the auth package. It is closed when tb ends, and in
// any case before the test's PostgreSQL database is dropped, whichever test
// the two belong to. On PostgreSQL it accepts SQLite's ?N parameters as well
// as $N, so one raw statement serves both engines: its connections rewrite
// every statement with database.Rebind, transactions and prepared
// statements included. (credstore itself rewrites in its executors, which a
// raw pool does not go through.)
func Raw(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	d, err := database.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("testdb: open %s: %v", database.Redact(dsn), err)
	}
	pool := d.SQL()
	if d.Engine() == database.Postgres {
		d.Close()
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			tb.Fatalf("testdb: parse %s: %v", database.Redact(dsn), err)
		}
		pool = sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	}
	closeOnce := sync.OnceValue(pool.Close)
	pools.add(dsn, closeOnce)
	tb.Cleanup(func() { closeOnce() })
	return pool
}

// rebindConnector hands out pgx connections that rewrite ?N parameters
// into $N before a statement reaches pgx.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx returned a %T connection, not *stdlib.Conn", conn)
	}
	return rebindConn{pc}, nil
}

// rebindConn embeds *stdlib.Conn to keep every optional interface pgx
// implements.
type rebindConn struct{ *stdlib.Conn }

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(database.Rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, database.Rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, database.Rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, database.Rebind(query), args)
}

// pools tracks the pools that testdb's helpers opened on each PostgreSQL
// database that postgresDSN created, so that the database's cleanup closes
// them before it drops the database. t.Cleanup runs last-in first-out per
// test, so a pool opened through a parent test (or a benchmark's b) on a
// subtest's database would otherwise still be open when the drop runs.
var pools = &poolRegistry{m: map[string][]func() error{}}

type poolRegistry struct {
	mu sync.Mutex
	m  map[string][]func() error // by DSN; present only for databases we created
}

// track starts tracking dsn, a database postgresDSN created.
func (r *poolRegistry) track(dsn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[dsn] = nil
}

// add records a close function for a pool on dsn, if dsn is tracked.
func (r *poolRegistry) add(dsn string, closeFn func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fns, ok := r.m[dsn]; ok {
		r.m[dsn] = append(fns, closeFn)
	}
}

// closeAll closes every pool opened on dsn and stops tracking it.
func (r *poolRegistry) closeAll(dsn string) {
	r.mu.Lock()
	fns := r.m[dsn]
	delete(r.m, dsn)
	r.mu.Unlock()
	for _, f := range fns {
		_ = f() // idempotent: the pool's own cleanup may already have run
	}
}

// PostgresURL returns the server URL from PostgresURLEnv, skipping tb (or
// failing it under CI=true) when it is not set.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(PostgresURLEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("CI=true but " + PostgresURLEnv + " is empty: " + SkipMessage)
		}
		tb.Skip(SkipMessage)
	}
	return u
}

// admin is one pool per test process on the server's maintenance database,
// used only to create and drop the tests' databases.
var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
	// copyFiles: CREATE DATABASE copies the template's files rather than
	// writing every page to the WAL (PostgreSQL 15's default), which is
	// several times cheaper on a server that does not fsync, such as the
	// one .ci/run sets up; with fsync on, the checkpoints it takes cost more.
	copyFiles bool
}

// adminDB connects the admin pool on first use and then sweeps the server
// of test databases that earlier runs failed to drop.
func adminDB(tb testing.TB, serverURL string) (*sql.DB, error) {
	admin.once.Do(func() {
		db, err := sql.Open("pgx", serverURL)
		if err == nil {
			// Parallel tests end together and drop their databases at
			// once, each drop waiting for a checkpoint.
			db.SetMaxOpenConns(8)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = db.PingContext(ctx)
		}
		admin.db, admin.err = db, err
		if err == nil {
			admin.copyFiles = fileCopyIsCheap(db)
			sweep(db, time.Now(), tb.Logf)
		}
	})
	return admin.db, admin.err
}

// fileCopyIsCheap reports whether the server takes CREATE DATABASE ...
// STRATEGY FILE_COPY (PostgreSQL 15 and later) and does not fsync.
func fileCopyIsCheap(db *sql.DB) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version int
	var fsync string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int, current_setting('fsync')").Scan(&version, &fsync); err != nil {
		return false
	}
	return version >= 150000 && fsync == "off"
}

// Test databases are named dbPrefix, the Unix time of their creation in
// seconds, '_' and random hex: credstore_test_1767225600_9f86d081884c7d65.
// The time lets a later run tell a leftover from a database that a test
// binary running beside it is still using.
const dbPrefix = "credstore_test_"

// LeftoverAge is how old a test database must be before sweep drops it. No
// test runs this long; other test binaries share the server, so a younger
// database may well be in use.
const LeftoverAge = time.Hour

// dropRetryFor is how long a drop is retried while other sessions are still
// leaving the database. PostgreSQL itself waits up to five seconds for them
// within each attempt.
const dropRetryFor = 3 * time.Second

// dropTimeout bounds one test database's cleanup. PostgreSQL 15 runs an
// immediate checkpoint for every DROP DATABASE, and with many test databases
// on a busy machine one can take well over 30 seconds (37 s was seen).
const dropTimeout = 2 * time.Minute

// dbName returns a fresh database name for a database created at now.
func dbName(now time.Time) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d_%s", dbPrefix, now.Unix(), hex.EncodeToString(b[:])), nil
}

// createdAt reads the creation time from a name dbName made; ok is false for
// any other name, including those of older testdb versions, which carry no
// time and are left alone.
func createdAt(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, dbPrefix)
	if !ok {
		return time.Time{}, false
	}
	secs, random, ok := strings.Cut(rest, "_")
	if !ok || len(random) != 16 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(random); err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// sweep drops the test databases created more than LeftoverAge before now.
// A failure is only logged: the next run tries again.
func sweep(db *sql.DB, now time.Time, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'credstore\_test\_%'`)
	if err != nil {
		logf("testdb: list leftover test databases: %v", err)
		return
	}
	var old []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			logf("testdb: list leftover test databases: %v", err)
			rows.Close()
			return
		}
		if at, ok := createdAt(name); ok && now.Sub(at) > LeftoverAge {
			old = append(old, name)
		}
	}
	rows.Close()
	for _, name := range old {
		if _, err := dropDatabase(ctx, db, name, dropRetryFor); err != nil {
			logf("testdb: drop leftover database %s: %v", name, err)
		}
	}
}

// dropDatabase drops the database name. It tries a plain DROP DATABASE
// first, which also ends autovacuum workers visiting the database, retrying
// for about retryFor while other sessions are still leaving it (55006) or may
// not be ended (42501). Only then does it use WITH (FORCE), which terminates
// every other session but fails outright on one it may not terminate; forced
// reports that it came to that.
func dropDatabase(ctx context.Context, db *sql.DB, name string, retryFor time.Duration) (forced bool, err error) {
	// The name is ours, [a-z0-9_]: no quoting needed.
	deadline := time.Now().Add(retryFor)
	for {
		_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
		if err == nil {
			return false, nil
		}
		code := database.SQLState(err)
		if code != "55006" && code != "42501" || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(100*time.Millisecond + time.Duration(mrand.Int64N(int64(100*time.Millisecond)))):
		}
	}
	if _, ferr := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); ferr != nil {
		return true, fmt.Errorf("%w; WITH (FORCE): %w", err, ferr)
	}
	return true, nil
}

// dropOrLog is a test database's cleanup: it closes the pools testdb opened
// on it, then drops it. A drop that fails is logged, never a test failure:
// the test itself passed, and the database is swept by a later run once it
// is LeftoverAge old.
func dropOrLog(tb testing.TB, db *sql.DB, dsn, name string) {
	pools.closeAll(dsn)
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	forced, err := dropDatabase(ctx, db, name, dropRetryFor)
	switch {
	case err != nil:
		tb.Logf("testdb: could not drop database %s (a later run sweeps it): %v", name, err)
	case forced:
		tb.Logf("testdb: dropped database %s only WITH (FORCE): the test left a connection open", name)
	}
}

func postgresDSN(tb testing.TB, migrated bool) string {
	tb.Helper()
	serverURL := PostgresURL(tb)
	db, err := adminDB(tb, serverURL)
	if err != nil {
		tb.Fatalf("testdb: connect to %s: %v", PostgresURLEnv, err)
	}
	create := "CREATE DATABASE %s"
	if migrated {
		tmpl, err := migratedTemplate(db, serverURL)
		if err != nil {
			tb.Fatalf("testdb: %v", err)
		}
		create += " TEMPLATE " + tmpl
	}
	if admin.copyFiles {
		create += " STRATEGY = FILE_COPY"
	}
	name, err := dbName(time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	dsn, err := databaseURL(serverURL, name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := createDatabase(context.Background(), db, fmt.Sprintf(create, name)); err != nil {
		tb.Fatalf("testdb: create database: %v", err)
	}
	pools.track(dsn)
	tb.Cleanup(func() { dropOrLog(tb, db, dsn, name) })
	return dsn
}

// databaseURL is serverURL naming the database name.
func databaseURL(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("testdb: %s is not a URL", PostgresURLEnv)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createDatabase runs a CREATE DATABASE statement, retrying for a while
// when its template is still in use (55006): the connections that migrated
// the template may still be leaving the server when the first copy is made.
func createDatabase(ctx context.Context, db *sql.DB, stmt string) error {
	deadline := time.Now().Add(dropTimeout)
	for {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || database.SQLState(err) != "55006" || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10*time.Millisecond + time.Duration(mrand.Int64N(int64(10*time.Millisecond))))
	}
}

// template is the migrated database this test process copies for each
// test: made once, on first use, and never dropped by this process (it is
// in use until the process ends), so a later run sweeps it like any
// leftover once it is LeftoverAge old.
var template struct {
	once sync.Once
	name string
	err  error
}

// migratedTemplate returns the name of the process's template, making it
// on first use: a database migrated by database.Open, which is then closed,
// since PostgreSQL copies only a database nobody is connected to.
func migratedTemplate(db *sql.DB, serverURL string) (string, error) {
	template.once.Do(func() {
		name, err := dbName(time.Now())
		if err == nil {
			err = makeTemplate(db, serverURL, name)
		}
		template.name, template.err = name, err
	})
	return template.name, template.err
}

func makeTemplate(db *sql.DB, serverURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	dsn, err := databaseURL(serverURL, name)
	if err != nil {
		return err
	}
	d, err := database.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("migrate template database: %w", err)
	}
	return d.Close()
}
