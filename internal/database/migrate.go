package database

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/credstore/credstore/schema"
)

// migration is one numbered step of an engine's schema.
type migration struct {
	Version  int
	Name     string
	Up, Down string
	// Drops is what the down file destroys, and Notes what else the
	// operator should know before running it, as its dropsMarker and
	// noteMarker lines say.
	Drops, Notes []string
}

// goStepMarker, alone on a line of an up file, runs the Go step it names at
// that point of the migration, inside the migration's transaction: the work
// that SQL cannot do the same on both engines (computing a canonical form in
// Go, say). A step must be safe to run on a table of any size and must not
// depend on anything but the schema as the preceding SQL left it.
const goStepMarker = "-- credstore:go "

// dropsMarker begins a line of a down file that says, for the operator
// asked to confirm the rollback, what it destroys: data that going up again
// does not bring back ("-- credstore:drops every session: everyone is
// signed out"), one line per thing. A down file without one loses nothing:
// what it removes, going up again rebuilds or puts back (0008 keeps the
// actors' public ids aside for its up file to restore). The migrate
// command shows each step's list before it asks.
const dropsMarker = "-- credstore:drops "

// noteMarker begins a line of a down file that tells the operator something
// else worth knowing before the rollback, shown with the drops.
const noteMarker = "-- credstore:note "

// markerLines reads what follows marker on the lines of a migration file
// that begin with it.
func markerLines(text, marker string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if what, ok := strings.CutPrefix(strings.TrimSpace(line), marker); ok {
			out = append(out, strings.TrimSpace(what))
		}
	}
	return out
}

// goSteps are the Go steps that migrations may name.
var goSteps = map[string]func(context.Context, Executor) error{
	"backfill_email_canonical": backfillEmailCanonical,
}

// run applies the migration's up file: its SQL, and the Go steps it names
// where it names them.
func (m migration) run(ctx context.Context, ex Executor) error {
	var sqlText strings.Builder
	flush := func() error {
		if strings.TrimSpace(sqlText.String()) == "" {
			return nil
		}
		_, err := ex.ExecContext(ctx, sqlText.String())
		sqlText.Reset()
		return err
	}
	for _, line := range strings.SplitAfter(m.Up, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), goStepMarker)
		if !ok {
			sqlText.WriteString(line)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := goSteps[name](ctx, ex); err != nil {
			return fmt.Errorf("step %s: %w", name, err)
		}
	}
	return flush()
}

// checkGoSteps reports a marker that names no Go step of steps.
func (m migration) checkGoSteps(steps map[string]func(context.Context, Executor) error) error {
	for _, line := range strings.Split(m.Up, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), goStepMarker); ok && steps[name] == nil {
			return fmt.Errorf("migration %d_%s names an unknown Go step %q", m.Version, m.Name, name)
		}
	}
	return nil
}

// migrations reads the engine's embedded migrations, ordered by version.
func migrations(engine Engine) ([]migration, error) {
	return readMigrations(schema.FS, string(engine), goSteps)
}

// readMigrations reads the migrations in directory dir of fsys, ordered by
// version. Every version must have both an up and a down file, and
// versions are numbered 1, 2, 3... A Go step marker must name one of steps.
func readMigrations(fsys fs.FS, dir string, steps map[string]func(context.Context, Executor) error) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*migration{}
	for _, e := range entries {
		file := e.Name()
		var direction string
		switch {
		case strings.HasSuffix(file, ".up.sql"):
			direction = "up"
		case strings.HasSuffix(file, ".down.sql"):
			direction = "down"
		default:
			continue
		}
		stem := strings.TrimSuffix(file, "."+direction+".sql")
		num, name, ok := strings.Cut(stem, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.up.sql or NNNN_name.down.sql", file)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, err
		}
		m := byVersion[version]
		if m == nil {
			m = &migration{Version: version, Name: name}
			byVersion[version] = m
		} else if m.Name != name {
			return nil, fmt.Errorf("migration %d has two names: %s and %s", version, m.Name, name)
		}
		if direction == "up" {
			m.Up = string(body)
		} else {
			m.Down = string(body)
			m.Drops = markerLines(m.Down, dropsMarker)
			m.Notes = markerLines(m.Down, noteMarker)
		}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration %d_%s needs both an up and a down file", m.Version, m.Name)
		}
		if err := m.checkGoSteps(steps); err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1, 2, 3...: found %d at position %d", m.Version, i+1)
		}
	}
	return out, nil
}

// track is one sequence of versioned migrations: credstore's, or the
// application's own (MigrateApp), which is applied after credstore's and
// recorded apart from it, so that either can gain versions without the
// other knowing.
type track struct {
	table   string // the table recording the versions applied
	lockKey int64  // the PostgreSQL advisory lock serialising it
	owner   string // who ships the migrations, for messages
}

// The two tracks.
var (
	credstoreTrack = track{table: "schema_migrations", lockKey: migrationLockKey, owner: "credstore"}
	appTrack       = track{table: "app_schema_migrations", lockKey: appMigrationLockKey, owner: "the application"}
)

// LatestVersion is the schema version this build migrates to.
func (d *DB) LatestVersion() (int, error) {
	ms, err := migrations(d.engine)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

// Version reports the schema version the database is at.
func (d *DB) Version(ctx context.Context) (int, error) {
	m, done, err := d.migrator(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	return m.version(ctx, credstoreTrack)
}

func (d *DB) version(ctx context.Context, t track) (int, error) {
	var v int
	err := d.InTx(ctx, func(ex Executor) error {
		if err := d.lockMigrations(ctx, ex, t); err != nil {
			return err
		}
		var err error
		v, err = d.currentVersion(ctx, ex, t)
		return err
	})
	return v, err
}

// currentVersion reads the schema version without creating anything, so
// that a role without CREATE on the schema can open a migrated database.
func (d *DB) currentVersion(ctx context.Context, ex Executor, t track) (int, error) {
	exists := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
	if d.engine == Postgres {
		exists = "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?1"
	}
	var n int
	if err := ex.QueryRowContext(ctx, exists, t.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("look for %s: %w", t.table, err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := ex.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+t.table).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Migrate applies every pending migration in one transaction, so a failure
// leaves the schema as it was (both engines have transactional DDL). Two
// processes opening the same database at once are serialised, and the second
// finds nothing left to do: on SQLite by the transaction's write lock, on
// PostgreSQL by an advisory lock the transaction takes first. A database
// newer than this build is refused.
func (d *DB) Migrate(ctx context.Context) error {
	ms, err := migrations(d.engine)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return d.migrateTo(ctx, credstoreTrack, ms, len(ms))
}

// MigrateTo moves the schema up or down to version target (0 removes every
// table credstore created). Down steps may destroy data, as each one's
// MigrationState.Drops says; they are for operators rolling back a release.
func (d *DB) MigrateTo(ctx context.Context, target int) error {
	ms, err := migrations(d.engine)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if target < 0 || target > len(ms) {
		return fmt.Errorf("migrate: version %d is not between 0 and %d", target, len(ms))
	}
	return d.migrateTo(ctx, credstoreTrack, ms, target)
}

func (d *DB) migrateTo(ctx context.Context, t track, ms []migration, target int) error {
	m, done, err := d.migrator(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer done()
	if err := m.migrateOn(ctx, t, ms, target); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrateOn moves the schema to target on d, the database migrator gave.
func (d *DB) migrateOn(ctx context.Context, t track, ms []migration, target int) error {
	return d.InTx(ctx, func(ex Executor) error {
		if err := d.lockMigrations(ctx, ex, t); err != nil {
			return err
		}
		current, err := d.currentVersion(ctx, ex, t)
		if err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("%s's schema is at version %d, newer than this build's %d: upgrade %s", t.owner, current, len(ms), t.owner)
		}
		if current == target {
			// Nothing to do, and no DDL run: a runtime role with only
			// SELECT, INSERT, UPDATE and DELETE opens the store.
			return nil
		}
		if err := d.ensureMigrationTable(ctx, ex, t); err != nil {
			return err
		}
		for v := current + 1; v <= target; v++ {
			m := ms[v-1]
			if err := m.run(ctx, ex); err != nil {
				return fmt.Errorf("%d_%s up: %w", m.Version, m.Name, err)
			}
			if _, err := ex.ExecContext(ctx, "INSERT INTO "+t.table+" (version, name, applied_at) VALUES (?1, ?2, ?3)",
				m.Version, m.Name, time.Now().UTC()); err != nil {
				return fmt.Errorf("%d_%s: record version: %w", m.Version, m.Name, err)
			}
		}
		for v := current; v > target; v-- {
			m := ms[v-1]
			if _, err := ex.ExecContext(ctx, m.Down); err != nil {
				return fmt.Errorf("%d_%s down: %w", m.Version, m.Name, err)
			}
			if _, err := ex.ExecContext(ctx, "DELETE FROM "+t.table+" WHERE version = ?1", m.Version); err != nil {
				return fmt.Errorf("%d_%s: forget version: %w", m.Version, m.Name, err)
			}
		}
		return nil
	})
}

// MigrationLockTimeout is how long opening a PostgreSQL store waits for the
// migration lock (another instance migrating) or for a table lock a
// migration needs, before it fails.
const MigrationLockTimeout = 5 * time.Minute

// migrationLockKey identifies credstore's migrations among the advisory
// locks of a PostgreSQL database (advisory locks are scoped to one
// database): the first eight bytes of sha256("credstore migrations"), sign
// bit cleared.
const migrationLockKey int64 = 0x166ecf4fbb13fdfc

// appMigrationLockKey is the application track's lock: the first eight
// bytes of sha256("credstore application migrations"), sign bit cleared.
const appMigrationLockKey int64 = 0x0c99be3b0cda58be

// lockMigrations serialises migrations across processes. On PostgreSQL two
// instances starting at once would otherwise both find the schema empty and
// race to create it; the transaction-scoped advisory lock makes the second
// wait until the first commits, and it is released with the transaction
// however that ends. On SQLite the IMMEDIATE transaction already holds the
// database's write lock.
func (d *DB) lockMigrations(ctx context.Context, ex Executor, t track) error {
	if d.engine != Postgres {
		return nil
	}
	// The connection is the migrator's, whose settings let this wait up to
	// MigrationLockTimeout.
	if _, err := ex.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?1)", t.lockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

func (d *DB) ensureMigrationTable(ctx context.Context, ex Executor, t track) error {
	// The one statement written per engine: the column types differ.
	ddl := `CREATE TABLE IF NOT EXISTS ` + t.table + ` (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMP NOT NULL
	)`
	if d.engine == Postgres {
		ddl = `CREATE TABLE IF NOT EXISTS ` + t.table + ` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`
	}
	if _, err := ex.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create %s: %w", t.table, err)
	}
	return nil
}

// MigrationState is one migration of this build and whether the database
// has it.
type MigrationState struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
	// Drops says what rolling the migration back destroys, one item each
	// ("every session: everyone is signed out"); empty when the rollback
	// loses nothing that going up again does not give back.
	Drops []string
	// Notes says what else to know before rolling it back.
	Notes []string
}

// Migrations lists this build's migrations, oldest first, with whether
// each is applied to the database and when. It creates nothing.
func (d *DB) Migrations(ctx context.Context) ([]MigrationState, error) {
	ms, err := migrations(d.engine)
	if err != nil {
		return nil, err
	}
	m, done, err := d.migrator(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	applied := map[int]time.Time{}
	err = m.InTx(ctx, func(ex Executor) error {
		if err := m.lockMigrations(ctx, ex, credstoreTrack); err != nil {
			return err
		}
		current, err := m.currentVersion(ctx, ex, credstoreTrack)
		if err != nil || current == 0 {
			return err
		}
		rows, err := ex.QueryContext(ctx, "SELECT version, applied_at FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			var at time.Time
			if err := rows.Scan(&v, &at); err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			applied[v] = at.UTC()
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, len(ms))
	for i, m := range ms {
		at, ok := applied[m.Version]
		out[i] = MigrationState{Version: m.Version, Name: m.Name, Applied: ok, AppliedAt: at, Drops: m.Drops, Notes: m.Notes}
	}
	return out, nil
}

// MigrateApp applies the application's pending migrations, read from the
// directory of fsys named after the engine ("sqlite/", "postgres/"),
// NNNN_name.up.sql and NNNN_name.down.sql pairs numbered 1, 2, 3... as
// credstore's own are. They form a track of their own, recorded in
// app_schema_migrations, applied after credstore's and in one transaction:
// a failure leaves the application's schema as it was. A database whose
// application track is newer than fsys's is refused.
func (d *DB) MigrateApp(ctx context.Context, fsys fs.FS) error {
	ms, err := readMigrations(fsys, string(d.engine), nil)
	if err != nil {
		return fmt.Errorf("migrate application: %w", err)
	}
	if err := d.migrateTo(ctx, appTrack, ms, len(ms)); err != nil {
		return fmt.Errorf("application %w", err)
	}
	return nil
}

// MigrateAppTo moves the application's track to version target (0 runs
// every down file of fsys). It leaves credstore's track alone.
func (d *DB) MigrateAppTo(ctx context.Context, fsys fs.FS, target int) error {
	ms, err := readMigrations(fsys, string(d.engine), nil)
	if err != nil {
		return fmt.Errorf("migrate application: %w", err)
	}
	if target < 0 || target > len(ms) {
		return fmt.Errorf("migrate application: version %d is not between 0 and %d", target, len(ms))
	}
	if err := d.migrateTo(ctx, appTrack, ms, target); err != nil {
		return fmt.Errorf("application %w", err)
	}
	return nil
}
