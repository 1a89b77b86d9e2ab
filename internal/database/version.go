package database

import (
	"context"
	"fmt"
	"io/fs"
)

// VersionError reports a database whose schema is not at the version this
// build's migrations reach, found by CheckVersion.
type VersionError struct {
	Owner    string // whose schema: "credstore" or "the application"
	Database int    // the database's version; 0 when it has none of Owner's tables
	Build    int    // the version this build's migrations reach
}

func (e *VersionError) Error() string {
	switch {
	case e.Database > e.Build:
		return fmt.Sprintf("%s's schema is at version %d, newer than this build's %d", e.Owner, e.Database, e.Build)
	case e.Database == 0:
		return fmt.Sprintf("the database has no %s schema (version 0; this build's is %d)", e.Owner, e.Build)
	}
	return fmt.Sprintf("%s's schema is at version %d, older than this build's %d", e.Owner, e.Database, e.Build)
}

// CheckVersion returns a *VersionError unless credstore's schema is at this
// build's latest version and, when app is not nil (the application's
// migrations, as MigrateApp takes them), the application's schema at app's
// latest. It reads the versions and changes nothing: no table is created
// and no lock taken.
func (d *DB) CheckVersion(ctx context.Context, app fs.FS) error {
	ms, err := migrations(d.engine)
	if err != nil {
		return err
	}
	if err := d.checkTrack(ctx, credstoreTrack, len(ms)); err != nil {
		return err
	}
	if app == nil {
		return nil
	}
	ams, err := readMigrations(app, string(d.engine), nil)
	if err != nil {
		return fmt.Errorf("application migrations: %w", err)
	}
	return d.checkTrack(ctx, appTrack, len(ams))
}

func (d *DB) checkTrack(ctx context.Context, t track, build int) error {
	// Read outside a transaction and without the migration lock: a
	// migration in progress is not waited for, and until it commits its
	// version is not the database's.
	v, err := d.currentVersion(ctx, d.Executor(), t)
	if err != nil {
		return err
	}
	if v != build {
		return &VersionError{Owner: t.owner, Database: v, Build: build}
	}
	return nil
}
