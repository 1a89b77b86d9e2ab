// Package database opens credstore's databases, applies the embedded
// migrations and translates driver errors into engine-neutral values.
//
// It is the only package that knows which driver sits underneath: SQLite
// through modernc.org/sqlite, PostgreSQL through pgx's database/sql driver.
// The auth package talks to it through DB, an executor that the
// sqlc-generated accessors accept, and through ConstraintOf. errors.go is the
// one place that reads driver errors: ConstraintOf, the codes DB.InTx
// retries on, and SQLState for tools and tests.
//
// There is one set of generated accessors, from sqlc's sqlite engine. On
// PostgreSQL they run unchanged: the executors DB hands out rewrite their ?N
// parameters into $N (see rebind), and the queries keep to SQL that both engines read
// alike (sqlc checks them against the PostgreSQL schema as well).
package database

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/credstore/credstore/internal/testhook"
)

// Engine names a database engine.
type Engine string

// The engines credstore runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// BusyTimeout is how long a SQLite connection waits for another writer
// before it gives up with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// Executor is what the generated accessors run their statements on: a pool,
// a connection or a transaction.
type Executor interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// DB is an open, migrated database.
type DB struct {
	sql    *sql.DB
	engine Engine
	// keep pins one connection of an in-memory database for the life of the
	// pool: SQLite frees a memory database when its last connection closes.
	keep *sql.Conn
	// pgConfig is the PostgreSQL URL's connection settings, from which
	// migrator opens the connection that migrates.
	pgConfig *pgx.ConnConfig
	// rb rewrites the parameters of PostgreSQL statements; nil on SQLite.
	rb *rebindCache
	// borrowed is set when the application opened the pool (OpenDB):
	// Close leaves it open.
	borrowed bool
	// migrates is set on the database migrator returns on PostgreSQL.
	migrates bool
}

// Open opens the database that dsn names and applies pending migrations.
//
// A URL beginning "postgres://" or "postgresql://" opens PostgreSQL
// ("postgres://user:pass@host:5432/dbname?sslmode=verify-full"); pgx reads
// the URL, and the pool parameters PoolMaxConnsParam,
// PoolMaxConnLifetimeParam and PoolMaxConnIdleTimeParam size the pool. The
// database must exist; its tables are created by the migrations.
//
// A libpq key/value string ("host=db user=app dbname=app") is refused.
//
// Anything else is SQLite: a file path ("credstore.db") or a SQLite URI
// ("file:credstore.db?mode=rwc"). The settings credstore relies on (foreign
// keys, WAL, busy timeout, synchronous NORMAL, SQLite time format, immediate
// transactions) are added to it; a DSN that sets one of them to something
// else, or sets any other driver parameter (those beginning with '_':
// _pragma, _timezone...), is refused. SQLite's own URI parameters (mode,
// cache...) pass through. A file that does not exist is created readable by
// its owner only, and so are its -wal and -shm files (see
// createSQLiteFile).
//
// Error messages never repeat a password the DSN holds (see Redact).
func Open(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, openMigrate)
}

// OpenNoMigrate opens the database that dsn names, as Open does, but
// applies no migration: the schema stays at whatever version it is, for a
// tool that reports or moves the version itself (credstore migrate). A new
// SQLite file is created empty, at version 0.
func OpenNoMigrate(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, openAsIs)
}

// OpenExisting opens the database that dsn names, as OpenNoMigrate does,
// for a program that only reads it: it creates nothing and migrates
// nothing. A SQLite file that does not exist is refused with ErrNoDatabase
// (a mistyped path must not become an empty database), and SQLite is told
// not to create it either. The schema may be at any version: CheckVersion
// says whether it is this build's.
func OpenExisting(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, openExisting)
}

// openMode is what open may do to the database it opens.
type openMode int

const (
	openMigrate  openMode = iota // create a missing SQLite file, apply pending migrations
	openAsIs                     // create a missing SQLite file, migrate nothing
	openExisting                 // create nothing, migrate nothing
)

func open(ctx context.Context, dsn string, mode openMode) (*DB, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open database: empty DSN")
	}
	if isKeyValueDSN(dsn) {
		// Not repeated: it holds the password in the clear.
		return nil, errors.New("open database: the DSN is a libpq key/value string (host=... dbname=...), " +
			"which credstore does not read: write a URL, postgres://user:password@host:5432/dbname " +
			"(a SQLite file whose name has that shape: prefix it with ./)")
	}
	if IsPostgres(dsn) {
		pool, cfg, err := openPostgres(dsn)
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
		}
		d := &DB{sql: pool, engine: Postgres, pgConfig: cfg, rb: &rebindCache{}}
		if err := d.init(ctx, mode == openMigrate); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
		}
		return d, nil
	}
	full, err := sqliteDSN(dsn, false)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if mode == openExisting {
		full, err = existingSQLiteFile(dsn, full)
	} else {
		err = createSQLiteFile(dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	pool, err := sql.Open("sqlite", full)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// WAL lets readers proceed beside the one writer; writers queue on the
	// busy timeout. A bounded pool keeps a burst of requests from opening
	// hundreds of file handles, and idle connections are kept because
	// opening one runs every pragma again.
	n := max(4, 2*runtime.GOMAXPROCS(0))
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(0)
	pool.SetConnMaxLifetime(0)
	d := &DB{sql: pool, engine: SQLite}
	if err := d.init(ctx, mode == openMigrate); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	return d, nil
}

// OpenMemory opens a fresh, private in-memory SQLite database and migrates it.
// Every connection of its pool sees the same data (a plain ":memory:" DSN
// would give each connection a database of its own); the data is gone once
// Close returns.
func OpenMemory(ctx context.Context) (*DB, error) {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("open memory database: %w", err)
	}
	// The memdb VFS shares a database among the connections of this process
	// that open the same name beginning with "/"; the random name keeps it
	// private to this pool.
	full, err := sqliteDSN("file:/credstore-"+hex.EncodeToString(b[:])+".db?vfs=memdb", true)
	if err != nil {
		return nil, fmt.Errorf("open memory database: %w", err)
	}
	pool, err := sql.Open("sqlite", full)
	if err != nil {
		return nil, fmt.Errorf("open memory database: %w", err)
	}
	pool.SetConnMaxIdleTime(0)
	pool.SetConnMaxLifetime(0)
	d := &DB{sql: pool, engine: SQLite}
	d.keep, err = pool.Conn(ctx)
	if err == nil {
		err = d.init(ctx, true)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("open memory database: %w", err)
	}
	return d, nil
}

// init checks that the database can be used and, if migrate is set,
// migrates it. On PostgreSQL all of that happens on the migration
// connection (see migrator), so that a URL's request timeouts, however short,
// cannot cut it short.
func (d *DB) init(ctx context.Context, migrate bool) error {
	m, done, err := d.migrator(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := m.ping(ctx); err != nil {
		return err
	}
	if err := m.checkSettings(ctx); err != nil {
		return err
	}
	if !migrate {
		return nil
	}
	return m.Migrate(ctx)
}

// migrator returns the database that migrations run on, and a function
// that releases it. On SQLite that is d itself. On PostgreSQL it is a pool
// of one connection of its own, opened with migrationConfig's settings: the
// pool's connections carry timeouts meant for requests, and overriding them
// inside the migration's transaction would leave its first statement
// subject to them.
func (d *DB) migrator(ctx context.Context) (*DB, func(), error) {
	if d.engine != Postgres || d.migrates {
		return d, func() {}, nil
	}
	cfg := d.pgConfig
	if cfg == nil {
		var err error
		if cfg, err = poolConfig(ctx, d.sql); err != nil {
			return nil, nil, fmt.Errorf("read the pool's connection settings: %w", err)
		}
	}
	pool := openMigrationPool(cfg)
	return &DB{sql: pool, engine: Postgres, rb: d.rb, migrates: true}, func() { pool.Close() }, nil
}

// ping makes the pool's first connection. On SQLite that connection runs
// the DSN's pragmas, and PRAGMA journal_mode=WAL on a new file needs an
// exclusive lock that SQLite will not wait for (the busy handler is not
// called where waiting could deadlock): while another process or pool opens
// the same new file, it fails at once with SQLITE_BUSY. It is tried again
// for up to BusyTimeout, as a busy writer would be waited for.
func (d *DB) ping(ctx context.Context) error {
	deadline := time.Now().Add(BusyTimeout)
	pause := 5 * time.Millisecond
	for {
		err := d.sql.PingContext(ctx)
		if err == nil || d.engine != SQLite || !sqliteBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// checkSettings proves that the DSN's pragmas took effect: a typo in a DSN
// must not silently leave foreign keys off. PostgreSQL always enforces them.
func (d *DB) checkSettings(ctx context.Context) error {
	if d.engine != SQLite {
		return nil
	}
	var fk int
	if err := d.sql.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are not enforced")
	}
	return nil
}

// Engine reports the engine underneath.
func (d *DB) Engine() Engine { return d.engine }

// Executor returns the executor for statements outside a transaction.
func (d *DB) Executor() Executor { return d.executor(d.sql) }

// TxExecutor returns the executor for statements in tx, a transaction that
// the application began on the pool OpenDB was given.
func (d *DB) TxExecutor(tx *sql.Tx) Executor { return d.executor(tx) }

// executor puts the engine's parameter rewrite, if it has one, around ex.
func (d *DB) executor(ex Executor) Executor {
	if d.rb == nil {
		return ex
	}
	return rebinder{ex: ex, cache: d.rb}
}

// SQL returns the pool itself, for tests and tools that need raw access.
// Statements sent on it directly are not rewritten: on PostgreSQL they
// must number their parameters $N (see Rebind).
func (d *DB) SQL() *sql.DB { return d.sql }

// TxAttempts is how many times InTx runs a transaction that the server
// rolled back as a deadlock victim or for a serialization failure.
const TxAttempts = 5

// WriteWait bounds how long InTx waits, in all, for SQLite's write lock
// while another connection or process holds it (a bulk import, a migration,
// the command line beside the service), before it gives up with the
// SQLITE_BUSY error: each BEGIN IMMEDIATE waits up to BusyTimeout in
// SQLite's busy handler, and is begun again until WriteWait has passed.
// ctx cuts the wait short (a request's deadline).
const WriteWait = 2 * time.Minute

// InTx runs fn in a transaction and commits it when fn returns nil. On
// SQLite every transaction begins IMMEDIATE, taking the write lock up front,
// so a read followed by a write never fails half-way with SQLITE_BUSY. On
// PostgreSQL it is a READ COMMITTED transaction: the store's writes are
// single statements whose conditions the server re-checks on the row it
// updates, and unique indexes decide races between inserts.
//
// When PostgreSQL aborts the transaction as the victim of a deadlock
// (SQLSTATE 40P01) or for a serialization failure (40001), InTx runs the
// whole of fn again in a new transaction, up to TxAttempts times in all,
// after a short random pause that ctx cuts short. When SQLite's write lock
// stays busy beyond BusyTimeout, InTx waits its turn again, for up to
// WriteWait in all: a writer beside a busy one waits instead of failing.
// Any other error returns at once: fn's own error as it is, a failed begin
// or commit wrapped.
//
// fn may therefore run more than once, and must have no side effects outside
// the transaction: no messages sent, no appending to slices declared outside
// it. Assigning results to variables declared outside is fine, since the run
// that commits assigns them last.
//
// A ctx marked by Yielding makes InTx pay back the lock after a commit on
// SQLite: see Yielding.
func (d *DB) InTx(ctx context.Context, fn func(Executor) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := d.inTxOnce(ctx, fn)
		busy := d.engine == SQLite && sqliteBusy(err)
		switch {
		case err == nil:
			return nil
		case busy && time.Since(start) >= WriteWait:
			return fmt.Errorf("%w (waited %v for the write lock)", err, time.Since(start).Round(time.Second))
		case busy:
			testhook.WriteBusy(ctx)
		case !retryable(err):
			return err
		case attempt >= TxAttempts:
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		t := time.NewTimer(txBackoff(min(attempt, TxAttempts-1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (not retried: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// txBackoff is the pause before attempt+1: random, so that two transactions
// that deadlocked do not meet again in step, and growing, from up to 10ms
// after the first attempt to up to 80ms after the fourth.
func txBackoff(attempt int) time.Duration {
	ceiling := 10 * time.Millisecond << (attempt - 1)
	return ceiling/2 + rand.N(ceiling/2)
}

// yieldingKey marks a context of a bulk writer (Yielding).
type yieldingKey struct{}

// Yielding marks ctx as a bulk writer's: one that runs write transaction
// after write transaction (an import, a re-encryption of every secret). On
// SQLite, every transaction InTx commits with it is followed by a pause as
// long as the transaction held the write lock (at least minYield), before
// InTx returns: the lock is then free at least half the time, so each poll
// of another process's busy handler finds it free with even odds, and
// within BusyTimeout one of them does. A writer that takes the lock again
// at once can starve them until their BusyTimeout. PostgreSQL queues its
// lock waiters, and pays nothing.
func Yielding(ctx context.Context) context.Context {
	return context.WithValue(ctx, yieldingKey{}, true)
}

// minYield is the shortest pause of a Yielding writer, for transactions so
// short that the time they held the lock is below a timer's resolution.
const minYield = time.Millisecond

func (d *DB) inTxOnce(ctx context.Context, fn func(Executor) error) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	locked := time.Now()
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(d.executor(tx)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if d.engine == SQLite && ctx.Value(yieldingKey{}) != nil {
		t := time.NewTimer(max(time.Since(locked), minYield))
		testhook.Yield(ctx)
		select {
		case <-ctx.Done(): // committed all the same
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// Close closes the pool; an in-memory database is freed. A pool that the
// application opened (OpenDB) is left open: it is the application's.
func (d *DB) Close() error {
	if d.borrowed {
		return nil
	}
	var errs []error
	if d.keep != nil {
		errs = append(errs, d.keep.Close())
	}
	errs = append(errs, d.sql.Close())
	return errors.Join(errs...)
}

// sqliteSettings are the connection settings credstore depends on, as
// modernc.org/sqlite DSN parameters.
func sqliteSettings(memory bool) url.Values {
	v := url.Values{}
	v.Set("_foreign_keys", "1")
	v.Set("_busy_timeout", fmt.Sprint(BusyTimeout.Milliseconds()))
	// SQLite's own text format, which its date functions can read; the
	// driver's default is Go's time.String().
	v.Set("_time_format", "sqlite")
	// BEGIN IMMEDIATE for every transaction: see DB.InTx.
	v.Set("_txlock", "immediate")
	if !memory {
		v.Set("_journal_mode", "WAL")
		v.Set("_synchronous", "NORMAL")
	}
	return v
}

// sqliteDSN turns a path or file: URI into a modernc.org/sqlite DSN with
// credstore's settings added.
func sqliteDSN(dsn string, memory bool) (string, error) {
	name, rawQuery, _ := strings.Cut(dsn, "?")
	if !strings.HasPrefix(name, "file:") {
		// In a file: URI SQLite decodes %HH and ends the name at '#'; escape
		// both so that a plain path names exactly the file it spells (Go's
		// t.TempDir gives paths such as ".../TestX#01/...").
		name = "file:" + strings.NewReplacer("%", "%25", "#", "%23").Replace(name)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("DSN parameters: %w", err)
	}
	if !memory && (q.Get("mode") == "memory" || name == ":memory:" || name == "file::memory:" || q.Get("vfs") == "memdb") {
		// Each pooled connection would get a database of its own.
		return "", errors.New("mode=memory: use OpenMemory for an in-memory database")
	}
	// The driver's own parameters all begin with '_'. Only those credstore
	// sets itself are accepted, and only with the value it sets: others
	// break what the store relies on (_timezone stores local times, which
	// then compare wrongly as text; _time_integer_format makes times
	// unreadable; _pragma can turn anything off), and a parameter a later
	// driver adds is refused until someone has looked at it.
	settings := sqliteSettings(memory)
	keys := make([]string, 0, len(q))
	for key := range q {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if !strings.HasPrefix(key, "_") {
			continue // SQLite's own URI parameters: mode, cache, vfs...
		}
		want, ok := settings[key]
		if !ok {
			return "", fmt.Errorf("DSN parameter %s is not supported: credstore sets the driver's parameters itself", key)
		}
		if got := strings.Join(q[key], ","); !strings.EqualFold(got, want[0]) {
			return "", fmt.Errorf("DSN sets %s=%s; credstore requires %s", key, got, want[0])
		}
	}
	for key, want := range settings {
		q[key] = want
	}
	return name + "?" + q.Encode(), nil
}

// Redact returns dsn fit for a log line or an error message: without its
// parameters (which may carry a password), and without the password of a
// URL's user.
//
// In a URL, everything between "://" and the last '@' is taken for the user
// information, whether or not the URL parses: a password with an unencoded
// '/', '?', '#' or '@' makes url.Parse split it elsewhere, and the password
// would then show as part of the host or path. Of the user information only
// the user name before the first ':' is kept, and only when it holds none of
// those characters. A libpq key/value string keeps only its host, port,
// database and user.
func Redact(dsn string) string {
	if isKeyValueDSN(dsn) {
		return redactKeyValue(dsn)
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok || !isURLScheme(scheme) {
		name, _, _ := strings.Cut(dsn, "?")
		return name
	}
	user := ""
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		name, _, _ := strings.Cut(rest[:at], ":")
		if name == "" || strings.ContainsAny(name, "/?#@") {
			name = "…"
		}
		user = name + "@"
		rest = rest[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	host, path, _ := strings.Cut(rest, "/")
	if !validHosts(host) {
		// "postgres://app:secret/db" has no '@', so "secret" stands where
		// a port would; it is not one.
		host = "…"
	}
	if path != "" || strings.HasSuffix(rest, "/") {
		host += "/"
	}
	return scheme + "://" + user + host + path
}

// validHosts reports whether every comma-separated host of a URL's host
// part ends in a numeric port or none.
func validHosts(hosts string) bool {
	for _, h := range strings.Split(hosts, ",") {
		if strings.HasPrefix(h, "[") { // [::1]:5432
			end := strings.IndexByte(h, ']')
			if end < 0 {
				return false
			}
			h = h[end+1:]
		}
		_, port, hasPort := strings.Cut(h, ":")
		if hasPort && strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	return true
}

// isURLScheme reports whether s has the form of a URL scheme (RFC 3986):
// a letter, then letters, digits, '+', '-' or '.'.
func isURLScheme(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
