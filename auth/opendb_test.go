package auth_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// appPool opens a pool on dsn as an application would, with the driver's
// own API, closed when t ends (before the test's PostgreSQL database is
// dropped: cleanups run last first).
func appPool(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driverName, source := "pgx", dsn
	if !database.IsPostgres(dsn) {
		var err error
		source, err = auth.SQLiteDSN(dsn)
		require.NoError(t, err)
		driverName = "sqlite"
	}
	pool, err := sql.Open(driverName, source)
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	return pool
}

// appSQL writes the application's own statements: $N on PostgreSQL, ?N on
// SQLite, as an application with its own queries for each engine would.
func appSQL(dsn, query string) string {
	if database.IsPostgres(dsn) {
		return database.Rebind(query)
	}
	return query
}

// orgsTable is the application's own table, owned by a user.
func orgsTable(dsn string) string {
	id := "INTEGER PRIMARY KEY"
	if database.IsPostgres(dsn) {
		id = "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return fmt.Sprintf(`CREATE TABLE orgs (
		id      %s,
		user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		name    text NOT NULL
	)`, id)
}

// openDB opens a store on an application's pool with testConfig, closed
// when t ends.
func openDB(t *testing.T, pool *sql.DB) *auth.Store {
	t.Helper()
	s, err := auth.OpenDB(context.Background(), pool, testConfig())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// TestOpenDB: a store opened on the application's pool registers, logs in
// and cascades a delete into the application's own table, while the
// application's queries on the same pool keep working, during and after
// the store's life.
func TestOpenDB(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		pool := appPool(t, dsn)
		s, err := auth.OpenDB(ctx, pool, testConfig())
		require.NoError(t, err)

		_, err = pool.ExecContext(ctx, orgsTable(dsn))
		require.NoError(t, err)
		alice := mustRegister(t, s, reg("alice"))
		bob := mustRegister(t, s, reg("bob"))
		for _, u := range []auth.User{alice, alice, bob} {
			_, err = pool.ExecContext(ctx, appSQL(dsn, "INSERT INTO orgs (user_id, name) VALUES (?1, ?2)"), u.ID, u.Username+"'s org")
			require.NoError(t, err)
		}
		got, err := s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		assert.Equal(t, alice.ID, got.ID)

		require.NoError(t, s.DeleteUser(ctx, alice.ID))
		var n int
		require.NoError(t, pool.QueryRowContext(ctx, appSQL(dsn, "SELECT COUNT(*) FROM orgs WHERE user_id = ?1"), alice.ID).Scan(&n))
		assert.Zero(t, n, "the delete cascaded to the application's rows")
		require.NoError(t, pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM orgs").Scan(&n))
		assert.Equal(t, 1, n, "bob's row is still there")

		require.NoError(t, s.Close())
		require.NoError(t, pool.PingContext(ctx), "Close left the application's pool open")
		require.NoError(t, pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
		assert.Equal(t, 1, n)

		// Opening again finds the schema migrated and changes nothing.
		again := openDB(t, pool)
		_, err = again.Login(ctx, "bob", pw("bob"))
		require.NoError(t, err)
	})
}

// TestOpenDBSQLiteSettings: a SQLite pool without the settings credstore
// relies on is refused with a *PoolSettingError naming the first missing
// one, and nothing is created in it.
func TestOpenDBSQLiteSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, params, setting string
	}{
		{"plain path", "", "foreign_keys"},
		{"foreign keys only", "?_pragma=foreign_keys(1)", "journal_mode"},
		{"no busy timeout", "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)", "busy_timeout"},
		{"Go's time format", "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)", "_time_format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.db")
			pool, err := sql.Open("sqlite", "file:"+path+tc.params)
			require.NoError(t, err)
			defer pool.Close()
			_, err = auth.OpenDB(context.Background(), pool, testConfig())
			var se *auth.PoolSettingError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.setting, se.Setting)
			assert.Contains(t, err.Error(), "auth.SQLiteDSN")
			var tables int
			require.NoError(t, pool.QueryRow("SELECT COUNT(*) FROM sqlite_master").Scan(&tables))
			assert.Zero(t, tables)
		})
	}
}

// TestOpenDBUnsupportedDriver: a pool on any other driver is refused
// before it is used.
func TestOpenDBUnsupportedDriver(t *testing.T) {
	t.Parallel()
	pool := sql.OpenDB(otherConnector{})
	defer pool.Close()
	_, err := auth.OpenDB(context.Background(), pool, testConfig())
	require.ErrorIs(t, err, auth.ErrUnsupportedDriver)
}

// otherConnector stands for a driver credstore does not know; it never
// connects.
type otherConnector struct{}

func (otherConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("otherConnector does not connect")
}

func (otherConnector) Driver() driver.Driver { return otherDriver{} }

type otherDriver struct{}

func (otherDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("otherDriver does not connect")
}
