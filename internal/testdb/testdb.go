// Package testdb gives each test a fresh database on every engine under
// test, so that one engine-agnostic suite runs on all of them.
//
// SQLite is always tested. PostgreSQL is tested when the environment
// variable CREDSTORE_TEST_POSTGRES_URL holds a connection URL for a role that
// may create databases; each test gets a database of its own, created on that
// server and dropped when the test ends, so several runs can share one
// server. Without the variable the PostgreSQL subtests are skipped with a
// message saying how to enable them, except under CI=true, where they fail:
// CI must never pass by skipping an engine.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin pool

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

// DSN returns the DSN of a fresh, empty database of engine e that is removed
// when tb ends. For PostgreSQL without PostgresURLEnv it skips tb (fails it
// under CI=true).
func DSN(tb testing.TB, e database.Engine) string {
	tb.Helper()
	switch e {
	case database.SQLite:
		return filepath.Join(tb.TempDir(), "credstore.db")
	case database.Postgres:
		return postgresDSN(tb)
	}
	tb.Fatalf("testdb: unknown engine %q", e)
	return ""
}

// Run runs fn as one subtest per engine, named after the engine, each with
// the DSN of a fresh database. The postgres subtest is always there: without
// PostgresURLEnv it is skipped with SkipMessage, so a run says what it left
// out.
func Run(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range []database.Engine{database.SQLite, database.Postgres} {
		t.Run(string(e), func(t *testing.T) {
			fn(t, DSN(t, e))
		})
	}
}

// Raw opens the database at dsn, migrated, as a plain *sql.DB for
// statements that bypass the auth package. It is closed when tb ends. On
// PostgreSQL it accepts SQLite's ?N parameters as well as $N, so one raw
// statement serves both engines.
func Raw(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	d, err := database.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("testdb: open %s: %v", database.Redact(dsn), err)
	}
	tb.Cleanup(func() { d.Close() })
	return d.SQL()
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
}

func adminDB(serverURL string) (*sql.DB, error) {
	admin.once.Do(func() {
		db, err := sql.Open("pgx", serverURL)
		if err == nil {
			db.SetMaxOpenConns(4)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = db.PingContext(ctx)
		}
		admin.db, admin.err = db, err
	})
	return admin.db, admin.err
}

func postgresDSN(tb testing.TB) string {
	tb.Helper()
	serverURL := PostgresURL(tb)
	db, err := adminDB(serverURL)
	if err != nil {
		tb.Fatalf("testdb: connect to %s: %v", PostgresURLEnv, err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "credstore_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(serverURL)
	if err != nil {
		tb.Fatalf("testdb: %s is not a URL", PostgresURLEnv)
	}
	u.Path = "/" + name
	ctx := context.Background()
	// The name is ours, [a-z0-9_]: no quoting needed.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testdb: create database: %v", err)
	}
	tb.Cleanup(func() {
		// FORCE ends connections a test left open (a pool not closed, or
		// closed after this cleanup ran).
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	return u.String()
}
