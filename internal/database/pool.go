package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// EngineOf reports which engine an application's pool runs on, from its
// driver: modernc.org/sqlite or pgx's database/sql driver, however the pool
// was opened (sql.Open by driver name, sql.OpenDB with a connector,
// stdlib.OpenDB or stdlib.OpenDBFromPool). ok is false for any other driver.
func EngineOf(pool *sql.DB) (e Engine, ok bool) {
	switch pool.Driver().(type) {
	case *sqlite.Driver:
		return SQLite, true
	case *stdlib.Driver:
		return Postgres, true
	}
	return "", false
}

// ErrUnsupportedDriver is returned by OpenDB for a pool whose driver is
// neither modernc.org/sqlite nor pgx's.
var ErrUnsupportedDriver = errors.New("the pool's driver is neither modernc.org/sqlite nor pgx's stdlib")

// SettingError reports that an application's SQLite pool lacks a connection
// setting credstore relies on.
type SettingError struct {
	Setting string // the pragma or driver parameter: "foreign_keys", "journal_mode"...
	Got     string
	Want    string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("the SQLite pool has %s=%s, credstore needs %s: open it with the DSN that SQLiteDSN returns", e.Setting, e.Got, e.Want)
}

// SQLiteDSN returns the modernc.org/sqlite DSN that opens the database at
// path (a file path or a "file:" URI) with every setting credstore relies
// on, for an application that opens the pool itself:
// sql.Open("sqlite", dsn). The rules are those of Open.
func SQLiteDSN(path string) (string, error) {
	return sqliteDSN(path, false)
}

// OpenDB opens credstore's database on pool, which the application opened
// and keeps: Close leaves it open. The engine is detected (EngineOf);
// pending migrations are applied. On PostgreSQL they run on a connection of
// their own made from the settings of the pool's connections (see
// migrator). A SQLite pool must have every setting that SQLiteDSN gives; the
// ones a connection can report are checked, on one connection (see
// checkPool), and a missing one is a *SettingError.
func OpenDB(ctx context.Context, pool *sql.DB) (*DB, error) {
	e, ok := EngineOf(pool)
	if !ok {
		return nil, fmt.Errorf("open database: %w (%T)", ErrUnsupportedDriver, pool.Driver())
	}
	d := &DB{sql: pool, engine: e, borrowed: true}
	if e == Postgres {
		d.rb = &rebindCache{}
	} else if err := d.checkPool(ctx); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := d.init(ctx, true); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return d, nil
}

// checkPool checks, on one connection of an application's SQLite pool, the
// settings that the connection can report: foreign keys, WAL (or an
// in-memory journal), a busy timeout, and SQLite's text format for times.
// Two it cannot: that every connection of the pool has them (they are
// per-connection; a DSN gives them to all), and that transactions begin
// IMMEDIATE (_txlock=immediate), without which two concurrent writes can
// fail with SQLITE_BUSY instead of waiting their turn.
func (d *DB) checkPool(ctx context.Context) error {
	c, err := d.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var fk, busy int
	var journal, at string
	if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return &SettingError{Setting: "foreign_keys", Got: fmt.Sprint(fk), Want: "1"}
	}
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if j := strings.ToLower(journal); j != "wal" && j != "memory" {
		return &SettingError{Setting: "journal_mode", Got: journal, Want: "wal"}
	}
	if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return fmt.Errorf("read busy_timeout: %w", err)
	}
	if busy <= 0 {
		return &SettingError{Setting: "busy_timeout", Got: fmt.Sprint(busy), Want: fmt.Sprint(BusyTimeout.Milliseconds())}
	}
	// The driver formats a time parameter as the pool's _time_format (and
	// _timezone) say; credstore's queries compare times as SQLite's text.
	probe := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.QueryRowContext(ctx, "SELECT CAST(?1 AS TEXT)", probe).Scan(&at); err != nil {
		return fmt.Errorf("read time format: %w", err)
	}
	if want := probe.Format(sqliteTimeLayout); at != want {
		return &SettingError{Setting: "_time_format", Got: at, Want: "sqlite (" + want + ")"}
	}
	return nil
}

// sqliteTimeLayout is the layout of modernc.org/sqlite's _time_format=sqlite.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"
