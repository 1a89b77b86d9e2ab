package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/credstore/credstore/internal/database"
)

// ErrUnsupportedDriver means OpenDB was given a pool whose driver is
// neither modernc.org/sqlite nor pgx's database/sql driver
// (github.com/jackc/pgx/v5/stdlib).
var ErrUnsupportedDriver = errors.New("unsupported database driver")

// PoolSettingError means OpenDB was given a SQLite pool without a
// connection setting that credstore relies on. Open the pool with the DSN
// that SQLiteDSN returns, which has them all.
type PoolSettingError struct {
	Setting string // "foreign_keys", "journal_mode", "busy_timeout" or "_time_format"
	Got     string // the pool's value
	Want    string // what credstore needs
}

func (e *PoolSettingError) Error() string {
	return fmt.Sprintf("the SQLite pool has %s=%s, credstore needs %s: open it with the DSN auth.SQLiteDSN returns",
		e.Setting, e.Got, e.Want)
}

// SQLiteDSN returns the modernc.org/sqlite DSN for the SQLite database at
// path (a file path or a "file:" URI, created if needed) with every
// connection setting credstore relies on: foreign keys, WAL, a busy timeout,
// SQLite's text format for times and IMMEDIATE transactions. An
// application that opens its own pool for OpenDB opens it with this:
//
//	dsn, err := auth.SQLiteDSN("app.db")
//	pool, err := sql.Open("sqlite", dsn)
//
// The path's own URI parameters (mode, cache...) are kept; a driver
// parameter (beginning with '_') other than credstore's is refused, as Open
// refuses it.
func SQLiteDSN(path string) (string, error) {
	dsn, err := database.SQLiteDSN(path)
	if err != nil {
		return "", fmt.Errorf("sqlite DSN: %w", err)
	}
	return dsn, nil
}

// OpenDB opens a store on pool, a *sql.DB that the application opened and
// shares with its own queries, and applies pending migrations. The engine
// is taken from the pool's driver: modernc.org/sqlite (driver name
// "sqlite") or pgx's database/sql driver (sql.Open("pgx", url),
// stdlib.OpenDB, stdlib.OpenDBFromPool). The store never closes the pool:
// Store.Close releases what the store prepared on it, and the application
// closes the pool after it.
//
// On PostgreSQL the pool may be configured as the application likes; the
// store numbers its parameters itself. Migrations run on a connection of
// their own made from the settings of the pool's connections, without their
// statement, lock and idle-in-transaction timeouts. Unlike Open, OpenDB sets
// no timeouts: those of the application's URL apply.
//
// On SQLite the pool must have the settings SQLiteDSN gives. One connection
// is checked for foreign keys, WAL (or an in-memory journal), a busy timeout
// and the time format, and OpenDB fails with a *PoolSettingError when one is
// missing. Two cannot be checked and are the application's to keep: every
// connection of the pool must have the settings (a DSN gives them to all, a
// PRAGMA run on one connection does not), and transactions must begin
// IMMEDIATE (_txlock=immediate), without which two concurrent writes can fail
// with SQLITE_BUSY rather than wait their turn.
//
// Errors: ErrUnsupportedDriver, *PoolSettingError, or the database's error
// wrapped.
func OpenDB(ctx context.Context, pool *sql.DB, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := database.OpenDB(ctx, pool)
	if err != nil {
		var se *database.SettingError
		switch {
		case errors.Is(err, database.ErrUnsupportedDriver):
			return nil, fmt.Errorf("open database: %w (%T)", ErrUnsupportedDriver, pool.Driver())
		case errors.As(err, &se):
			return nil, fmt.Errorf("open database: %w", &PoolSettingError{Setting: se.Setting, Got: se.Got, Want: se.Want})
		}
		return nil, err
	}
	return newStore(ctx, d, cfg)
}
