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
	fs := flag.NewFlagSet("credstore migrate "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage); fs.PrintDefaults() }
	dsn := fs.String("db", dbDefault(getenv), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	yes := fs.Bool("yes", false, "down: roll back without asking")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	steps := 1
	switch {
	case sub == "down" && fs.NArg() == 1:
		n, err := strconv.Atoi(fs.Arg(0))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "credstore migrate down: N must be a whole number of at least 1, not %q\n", fs.Arg(0))
			return 2
		}
		steps = n
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "credstore migrate %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}

	d, err := database.OpenNoMigrate(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "credstore migrate: %v\n", err)
		return 1
	}
	defer d.Close()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "credstore migrate %s: %v\n", sub, err)
		return 1
	}
	latest, err := d.LatestVersion()
	if err != nil {
		return fail(err)
	}
	current, err := d.Version(ctx)
	if err != nil {
		return fail(err)
	}
	if current > latest {
		return fail(fmt.Errorf("database schema is at version %d, newer than this build's %d: use the credstore release that migrated it", current, latest))
	}
	switch sub {
	case "status":
		ms, err := d.Migrations(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "database: %s\nschema version: %d (latest %d, %d pending)\n", database.Redact(*dsn), current, latest, latest-current)
		for _, m := range ms {
			state := "pending"
			if m.Applied {
				state = "applied " + m.AppliedAt.Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(stdout, "  %04d_%-20s %s\n", m.Version, m.Name, state)
		}
		return 0
	case "up":
		if current == latest {
			fmt.Fprintf(stdout, "schema version %d is the latest: nothing to apply\n", current)
			return 0
		}
		if err := d.Migrate(ctx); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "migrated from version %d to %d\n", current, latest)
		return 0
	}
	// down
	if steps > current {
		return fail(fmt.Errorf("cannot roll back %d migrations: the schema is at version %d", steps, current))
	}
	target := current - steps
	ms, err := d.Migrations(ctx)
	if err != nil {
		return fail(err)
	}
	var names []string
	for v := current; v > target; v-- {
		names = append(names, fmt.Sprintf("%04d_%s", ms[v-1].Version, ms[v-1].Name))
	}
	if !*yes {
		if !isTerminal(stdin) {
			return fail(errors.New("rolling back destroys data: confirm on a terminal, or pass -yes"))
		}
		fmt.Fprintf(stderr, "Roll back %s on %s, from version %d to %d?\nThis drops their tables and columns with their data. Type yes to go on: ",
			strings.Join(names, ", "), database.Redact(*dsn), current, target)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			fmt.Fprintln(stderr, "not rolled back")
			return 1
		}
	}
	if err := d.MigrateTo(ctx, target); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "rolled back %s: schema version %d\n", strings.Join(names, ", "), target)
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
