package database

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNoRoles is RuntimeGrants' error on SQLite, which has no roles: the
// file's permissions are its only access control.
var ErrNoRoles = errors.New("SQLite has no roles to grant to: the database file's permissions decide who may use it")

// runtimePrivileges are the privileges the runtime role needs on a table
// of credstore's, where they are not the default (defaultPrivileges).
var runtimePrivileges = map[string]string{
	// It reads the version on open; only the owner migrates.
	"schema_migrations": "SELECT",
	// Append-only: its trigger refuses every UPDATE. DELETE is the
	// retention purge's (Config.AuditRetention); that the runtime role can
	// delete the newest events too is why an operator records the chain's
	// head elsewhere (credstore audit head, audit verify -head).
	"audit_events": "SELECT, INSERT, DELETE",
}

// defaultPrivileges are what the runtime role needs on every other table
// of credstore's: it reads and writes rows, and never changes the schema.
const defaultPrivileges = "SELECT, INSERT, UPDATE, DELETE"

// RuntimeGrants returns the GRANT statements that give role what the
// service needs in this PostgreSQL database, and nothing more: USAGE on
// the schema that holds credstore's tables, and on each table the
// privileges above. The tables are the ones this build's migrations
// create, up to the database's version, each found in the live catalog
// (its schema there, so a search_path in the URL is honoured); a
// migration that adds a table adds its grant, with nothing to keep in
// step by hand. Identity columns need no grant on their sequences
// (PostgreSQL checks none for GENERATED ... AS IDENTITY), nor do the
// triggers' functions, LISTEN, NOTIFY or advisory locks.
//
// It refuses a database with migrations pending: grant after migrating,
// since the runtime role could not open it before. SQLite: ErrNoRoles.
func (d *DB) RuntimeGrants(ctx context.Context, role string) ([]string, error) {
	if d.engine != Postgres {
		return nil, ErrNoRoles
	}
	if role == "" {
		return nil, errors.New("no role named")
	}
	current, err := d.Version(ctx)
	if err != nil {
		return nil, err
	}
	latest, err := d.LatestVersion()
	if err != nil {
		return nil, err
	}
	if current != latest {
		return nil, fmt.Errorf("the schema is at version %d, this build's at %d: migrate first (credstore migrate up, as the owner), then grant", current, latest)
	}
	ms, err := migrations(d.engine)
	if err != nil {
		return nil, err
	}
	ups := make([]string, 0, len(ms))
	for _, m := range ms[:current] {
		ups = append(ups, m.Up)
	}
	tables := append(tablesCreatedBy(ups...), credstoreTrack.table)
	var (
		stmts   []string
		schemas []string
	)
	grantee := pgx.Identifier{role}.Sanitize()
	for _, table := range tables {
		var schema string
		err := d.sql.QueryRowContext(ctx, `SELECT n.nspname FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
			pgx.Identifier{table}.Sanitize()).Scan(&schema)
		if err != nil {
			return nil, fmt.Errorf("find table %s: %w", table, err)
		}
		if !slices.Contains(schemas, schema) {
			schemas = append(schemas, schema)
		}
		privileges, ok := runtimePrivileges[table]
		if !ok {
			privileges = defaultPrivileges
		}
		stmts = append(stmts, fmt.Sprintf("GRANT %s ON TABLE %s TO %s;", privileges, pgx.Identifier{schema, table}.Sanitize(), grantee))
	}
	usage := make([]string, len(schemas))
	for i, s := range schemas {
		usage[i] = fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s;", pgx.Identifier{s}.Sanitize(), grantee)
	}
	return append(usage, stmts...), nil
}

// ddlTable matches the statements of a migration that create, drop or
// rename a table, in a migration with its comments removed.
var ddlTable = regexp.MustCompile(`(?is)\b(CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?|DROP\s+TABLE(?:\s+IF\s+EXISTS)?|ALTER\s+TABLE(?:\s+IF\s+EXISTS)?)\s+("[^"]+"|[a-z_][a-z0-9_]*)(?:\s+RENAME\s+TO\s+("[^"]+"|[a-z_][a-z0-9_]*))?`)

// lineComment is a -- comment to the end of its line.
var lineComment = regexp.MustCompile(`--[^\n]*`)

// tablesCreatedBy returns the tables that the up files, run in order,
// leave behind: created, less dropped, with renames followed; in the
// order they were created.
func tablesCreatedBy(ups ...string) []string {
	var tables []string
	for _, up := range ups {
		for _, m := range ddlTable.FindAllStringSubmatch(lineComment.ReplaceAllString(up, ""), -1) {
			verb := strings.ToUpper(strings.Fields(m[1])[0])
			name := identifier(m[2])
			switch {
			case verb == "CREATE":
				if !slices.Contains(tables, name) {
					tables = append(tables, name)
				}
			case verb == "DROP":
				tables = slices.DeleteFunc(tables, func(t string) bool { return t == name })
			case m[3] != "":
				if i := slices.Index(tables, name); i >= 0 {
					tables[i] = identifier(m[3])
				}
			}
		}
	}
	return tables
}

// identifier is the name an identifier of the DDL denotes: as written when
// quoted, folded to lower case when not.
func identifier(s string) string {
	if unquoted, ok := strings.CutPrefix(s, `"`); ok {
		return strings.TrimSuffix(unquoted, `"`)
	}
	return strings.ToLower(s)
}
