package main

import (
	"bufio"
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
       credstore migrate down [flags] [N]     roll back the last N migrations (default 1): destroys their data

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
	case "status", "up", "down":
	default:
		fmt.Fprintf(stderr, "credstore migrate: unknown subcommand %q\n\n%s", sub, migrateUsage)
		return 2
	}
	f, code := parseMigrateFlags(sub, args[1:], getenv, stderr)
	if code != 0 {
		return max(code, 0)
	}

	d, err := database.OpenNoMigrate(ctx, f.dsn)
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
	default:
		return m.down(ctx, f.steps, f.yes)
	}
}

// migrateFlags are the flags and argument of a migrate subcommand.
type migrateFlags struct {
	dsn   string
	yes   bool
	steps int // down: how many migrations to roll back
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
	var names []string
	for v := m.current; v > target; v-- {
		names = append(names, fmt.Sprintf("%04d_%s", ms[v-1].Version, ms[v-1].Name))
	}
	if !yes {
		if !isTerminal(m.stdin) {
			return m.fail(errors.New("rolling back destroys data: confirm on a terminal, or pass -yes"))
		}
		fmt.Fprintf(m.stderr, "Roll back %s on %s, from version %d to %d?\nThis drops their tables and columns with their data. Type yes to go on: ",
			strings.Join(names, ", "), database.Redact(m.dsn), m.current, target)
		answer, _ := bufio.NewReader(m.stdin).ReadString('\n')
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
