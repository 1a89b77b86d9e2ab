package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/credstore/credstore/internal/database"
)

const migrateUsage = `usage: credstore migrate status [flags]       the schema version and each migration, applied or pending
       credstore migrate up [flags]           apply every pending migration
       credstore migrate down [flags] [N]     roll back the last N migrations (default 1): destroys what each says it drops
       credstore migrate grants [flags] ROLE  print the GRANT statements that PostgreSQL role ROLE needs to run the service

`

// migrate reports or moves the schema version of the database serve uses
// (the same -db flag and CREDSTORE_DB twin). It opens the database without
// migrating it, as auth.Open would. Rolling back drops tables and columns,
// so down asks first, on the terminal; without one it needs -yes.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		fmt.Fprint(stderr, migrateUsage)
		return 2
	}
	sub := args[0]
	if isHelp(sub) {
		fmt.Fprint(stdout, migrateUsage)
		return 0
	}
	switch sub {
	case "status", "up", "down", "grants":
	default:
		fmt.Fprintf(stderr, "credstore migrate: unknown subcommand %q\n\n%s", sub, migrateUsage)
		return 2
	}
	f, code := parseMigrateFlags(sub, args[1:], getenv, stderr)
	if code != 0 {
		return max(code, 0)
	}

	// Only up may create a database; the others refuse a mistyped path.
	open := database.OpenExisting
	if sub == "up" {
		open = database.OpenNoMigrate
	}
	d, err := open(ctx, f.dsn)
	if err != nil {
		fmt.Fprintf(stderr, "credstore migrate: %v\n", err)
		return 1
	}
	defer d.Close()
	m := &migrateRun{sub: sub, d: d, dsn: f.dsn, stdin: stdin, stdout: stdout, stderr: stderr}
	if err := m.readVersions(ctx); err != nil {
		return m.fail(err)
	}
	switch sub {
	case "status":
		return m.status(ctx)
	case "up":
		return m.up(ctx)
	case "grants":
		return m.grants(ctx, f.role)
	default:
		return m.down(ctx, f.steps, f.yes)
	}
}

// migrateFlags are the flags and argument of a migrate subcommand.
type migrateFlags struct {
	dsn   string
	yes   bool
	steps int    // down: how many migrations to roll back
	role  string // grants: the role to grant to
}

// parseMigrateFlags reads the flags of the subcommand sub, and the N that
// only down takes; a non-zero code is the exit status to return at once
// (-1: help was asked for, exit 0).
func parseMigrateFlags(sub string, args []string, getenv func(string) string, stderr io.Writer) (migrateFlags, int) {
	fs := flag.NewFlagSet("credstore migrate "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage); fs.PrintDefaults() }
	dsn := fs.String("db", dbDefault(getenv), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	yes := fs.Bool("yes", false, "down: roll back without asking")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return migrateFlags{}, -1
		}
		return migrateFlags{}, 2
	}
	f := migrateFlags{dsn: *dsn, yes: *yes, steps: 1}
	switch {
	case sub == "grants":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "credstore migrate grants: name the one role to grant to\n\n%s", migrateUsage)
			return f, 2
		}
		f.role = fs.Arg(0)
	case sub == "down" && fs.NArg() == 1:
		n, err := strconv.Atoi(fs.Arg(0))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "credstore migrate down: N must be a whole number of at least 1, not %q\n", fs.Arg(0))
			return f, 2
		}
		f.steps = n
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "credstore migrate %s: unexpected argument %q\n", sub, fs.Arg(0))
		return f, 2
	}
	return f, 0
}

// migrateRun is one run of a migrate subcommand on a database opened
// without migrating it.
type migrateRun struct {
	sub             string
	d               *database.DB
	dsn             string
	current, latest int // the database's schema version and this build's
	stdin           io.Reader
	stdout, stderr  io.Writer
}

func (m *migrateRun) fail(err error) int {
	fmt.Fprintf(m.stderr, "credstore migrate %s: %v\n", m.sub, err)
	return 1
}

// readVersions reads the database's schema version and this build's
// latest, and refuses a database that a newer build migrated: this one
// cannot tell what its migrations did, let alone undo them.
func (m *migrateRun) readVersions(ctx context.Context) error {
	var err error
	if m.latest, err = m.d.LatestVersion(); err != nil {
		return err
	}
	if m.current, err = m.d.Version(ctx); err != nil {
		return err
	}
	if m.current > m.latest {
		return fmt.Errorf("database schema is at version %d, newer than this build's %d: use the credstore release that migrated it", m.current, m.latest)
	}
	return nil
}

// status prints the schema version and every migration, applied (when) or
// pending.
func (m *migrateRun) status(ctx context.Context) int {
	ms, err := m.d.Migrations(ctx)
	if err != nil {
		return m.fail(err)
	}
	fmt.Fprintf(m.stdout, "database: %s\nschema version: %d (latest %d, %d pending)\n", database.Redact(m.dsn), m.current, m.latest, m.latest-m.current)
	for _, mi := range ms {
		state := "pending"
		if mi.Applied {
			state = "applied " + mi.AppliedAt.Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(m.stdout, "  %04d_%-20s %s\n", mi.Version, mi.Name, state)
	}
	return 0
}

// up applies every pending migration.
func (m *migrateRun) up(ctx context.Context) int {
	if m.current == m.latest {
		fmt.Fprintf(m.stdout, "schema version %d is the latest: nothing to apply\n", m.current)
		return 0
	}
	if err := m.d.Migrate(ctx); err != nil {
		return m.fail(err)
	}
	fmt.Fprintf(m.stdout, "migrated from version %d to %d\n", m.current, m.latest)
	return 0
}

// down rolls back the last steps migrations, after naming them and asking
// on the terminal unless yes: it drops their tables and columns with
// their data.
func (m *migrateRun) down(ctx context.Context, steps int, yes bool) int {
	if steps > m.current {
		return m.fail(fmt.Errorf("cannot roll back %d migrations: the schema is at version %d", steps, m.current))
	}
	target := m.current - steps
	ms, err := m.d.Migrations(ctx)
	if err != nil {
		return m.fail(err)
	}
	var names, lines []string
	for v := m.current; v > target; v-- {
		mi := ms[v-1]
		name := fmt.Sprintf("%04d_%s", mi.Version, mi.Name)
		names = append(names, name)
		for _, d := range mi.Drops {
			lines = append(lines, fmt.Sprintf("  %s drops %s\n", name, d))
		}
		for _, n := range mi.Notes {
			lines = append(lines, fmt.Sprintf("  %s: note: %s\n", name, n))
		}
	}
	loses := "This keeps every row: migrating up again gives back what it removes.\n"
	if len(lines) > 0 {
		loses = "This destroys what follows, which migrating up again does not give back:\n" + strings.Join(lines, "")
	}
	if yes {
		fmt.Fprint(m.stderr, loses) // a script's log says what went
	} else {
		if !isTerminal(m.stdin) {
			return m.fail(errors.New("rolling back changes the schema and may destroy data: confirm on a terminal, or pass -yes"))
		}
		fmt.Fprintf(m.stderr, "Roll back %s on %s, from version %d to %d?\n%sType yes to go on: ",
			strings.Join(names, ", "), database.Redact(m.dsn), m.current, target, loses)
		answer, err := askLine(ctx, m.stdin, m.stderr, false)
		if errors.Is(err, errInterrupted) {
			fmt.Fprintln(m.stderr, "interrupted: not rolled back")
			return 1
		}
		if strings.TrimSpace(answer) != "yes" {
			fmt.Fprintln(m.stderr, "not rolled back")
			return 1
		}
	}
	if err := m.d.MigrateTo(ctx, target); err != nil {
		return m.fail(err)
	}
	fmt.Fprintf(m.stdout, "rolled back %s: schema version %d\n", strings.Join(names, ", "), target)
	return 0
}

// grants prints the GRANT statements that role needs to run the service
// on this PostgreSQL database (database.DB.RuntimeGrants), for the owner to
// run: credstore migrate grants app | psql "$OWNER_URL". They are derived
// from the migrations this database has had and its catalog, so they name
// every table the service uses; run them again after an upgrade.
func (m *migrateRun) grants(ctx context.Context, role string) int {
	stmts, err := m.d.RuntimeGrants(ctx, role)
	if err != nil {
		return m.fail(err)
	}
	fmt.Fprintf(m.stdout, "-- what the runtime role needs on %s, schema version %d\n", database.Redact(m.dsn), m.current)
	for _, s := range stmts {
		fmt.Fprintln(m.stdout, s)
	}
	return 0
}

// dbDefault is the default of a -db flag: CREDSTORE_DB, else credstore.db.
func dbDefault(getenv func(string) string) string {
	if v := getenv("CREDSTORE_DB"); v != "" {
		return v
	}
	return "credstore.db"
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
