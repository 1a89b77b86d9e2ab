package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/credstore/credstore/internal/database"
)

// ErrNoDatabase means OpenExisting was given the path of a SQLite file that
// does not exist. It created none: a mistyped path does not become an empty
// database.
var ErrNoDatabase = database.ErrNoDatabase

// ErrSchemaVersion is matched by every *SchemaVersionError.
var ErrSchemaVersion = errors.New("schema version mismatch")

// SchemaVersionError means OpenExisting found the database's schema at a
// version other than the one this build uses, and did not open it: a
// program that only reads must neither migrate the database (an older
// release could no longer open it, a backup would not be of what was there)
// nor read a schema it was not written for.
type SchemaVersionError struct {
	// Schema is whose schema it is: "credstore", or "the application" for
	// Config.AppMigrations.
	Schema string
	// Database is the version the database is at; 0 when it has no such
	// schema at all.
	Database int
	// Build is the version this build's migrations reach.
	Build int
}

func (e *SchemaVersionError) Error() string {
	if e.Database > e.Build {
		return fmt.Sprintf("%s's schema is at version %d, newer than this build's %d: "+
			"use the release that migrated it (read-only commands never migrate)", e.Schema, e.Database, e.Build)
	}
	fix := "run credstore migrate up (or open the store with auth.Open), then try again"
	if e.Schema != "credstore" {
		fix = "open the store once with auth.Open, which applies Config.AppMigrations, then try again"
	}
	if e.Database == 0 {
		return fmt.Sprintf("the database has no %s schema (version 0; this build's is %d): "+
			"read-only commands never create one; if it is the right database, %s", e.Schema, e.Build, fix)
	}
	return fmt.Sprintf("%s's schema is at version %d, older than this build's %d: "+
		"read-only commands never migrate; %s", e.Schema, e.Database, e.Build, fix)
}

// Is makes errors.Is(err, ErrSchemaVersion) true.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaVersion }

// OpenExisting opens a store on the database dsn names, as Open does, for
// a program that only reads it (a backup, an audit check, a listing of
// users): it creates nothing and changes no schema.
//
//   - A SQLite file that does not exist is refused with ErrNoDatabase,
//     and SQLite is told not to create it either.
//   - A database whose schema is older or newer than this build's is
//     refused with a *SchemaVersionError naming both versions; with
//     Config.AppMigrations the application's schema is checked likewise,
//     and not migrated.
//
// Nothing else differs from Open: the store it returns may write, and the
// caller decides that it does not.
func OpenExisting(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := database.OpenExisting(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := d.CheckVersion(ctx, cfg.AppMigrations); err != nil {
		d.Close()
		var ve *database.VersionError
		if errors.As(err, &ve) {
			err = &SchemaVersionError{Schema: ve.Owner, Database: ve.Database, Build: ve.Build}
		}
		return nil, fmt.Errorf("open database %s: %w", database.Redact(dsn), err)
	}
	// newStore applies Config.AppMigrations; they are checked above, and
	// kept on the store for MigrateAppTo.
	app := cfg.AppMigrations
	cfg.AppMigrations = nil
	s, err := newStore(ctx, d, cfg)
	if err != nil {
		return nil, err
	}
	s.cfg.AppMigrations = app
	return s, nil
}
