// Package testdb gives each test a fresh database on every engine under
// test, so that one engine-agnostic suite runs on all of them.
//
// SQLite is always tested. PostgreSQL is tested when the environment
// variable CREDSTORE_TEST_POSTGRES_URL holds a connection URL; without it the
// PostgreSQL subtests are skipped with a message saying how to enable them.
package testdb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/credstore/credstore/internal/database"
)

// PostgresURLEnv names the environment variable that enables the
// PostgreSQL run.
const PostgresURLEnv = "CREDSTORE_TEST_POSTGRES_URL"

// Engines returns the engines every test runs on.
func Engines() []database.Engine {
	return []database.Engine{database.SQLite}
}

// DSN returns the DSN of a fresh, empty database of engine e that is removed
// when tb ends.
func DSN(tb testing.TB, e database.Engine) string {
	tb.Helper()
	switch e {
	case database.SQLite:
		return filepath.Join(tb.TempDir(), "credstore.db")
	}
	tb.Fatalf("testdb: unknown engine %q", e)
	return ""
}

// Run runs fn as one subtest per engine, named after the engine, each with
// the DSN of a fresh database.
func Run(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			fn(t, DSN(t, e))
		})
	}
}

// Raw opens the database at dsn, migrated, as a plain *sql.DB for
// statements that bypass the auth package. It is closed when tb ends.
func Raw(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	d, err := database.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("testdb: open %s: %v", dsn, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d.SQL()
}
