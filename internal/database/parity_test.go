package database_test

import (
	"database/sql"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// The schema is written twice, once per dialect, and kept in step by hand.
// These tests read both engines' live catalogs after the migrations have run
// and compare what the code depends on: tables, columns and whether they
// admit NULL, primary-key columns, and the names of constraints and indexes,
// since ConstraintOf and the auth package map violations to fields by name.
// Column types are not compared: they differ by design (INTEGER and bigint,
// DATETIME and timestamptz).

// Kinds of named schema objects in the engine-neutral description.
const (
	kindUnique      = "unique"       // a UNIQUE constraint
	kindUniqueIndex = "unique index" // CREATE UNIQUE INDEX
	kindIndex       = "index"        // CREATE INDEX
	kindCheck       = "check"        // a CHECK, or on SQLite a pair of triggers standing in for one
	kindForeignKey  = "foreign key"
	kindExclusion   = "exclusion"
	kindTrigger     = "trigger" // any trigger that is not a CHECK stand-in
)

// violationKind is the kind ConstraintOf reports for a violation of an object
// of kind k; 0 for objects that are not constraints.
func violationKind(k string) database.ConstraintKind {
	switch k {
	case kindUnique, kindUniqueIndex:
		return database.Unique
	case kindCheck:
		return database.Check
	case kindForeignKey:
		return database.ForeignKey
	}
	return 0
}

// tableSchema is one table as both engines can describe it.
type tableSchema struct {
	notNull     map[string]bool   // column name -> NOT NULL
	primaryKey  []string          // columns, in key order; the key's name is not compared
	constraints map[string]string // constraint or index name -> kind
}

// schemaDesc is a database's tables by name.
type schemaDesc map[string]*tableSchema

// table returns the description of table name, creating an empty one.
func (s schemaDesc) table(name string) *tableSchema {
	if s[name] == nil {
		s[name] = &tableSchema{notNull: map[string]bool{}, constraints: map[string]string{}}
	}
	return s[name]
}

// addConstraint records a named object, reporting a name used twice (SQLite
// does not refuse two constraints of one name; PostgreSQL does).
func (s schemaDesc) addConstraint(t *testing.T, table, name, kind string) {
	t.Helper()
	tab := s.table(table)
	if old, dup := tab.constraints[name]; dup {
		t.Errorf("%s: %s is defined twice (as %s and as %s)", table, name, old, kind)
	}
	tab.constraints[name] = kind
}

// knownDifferences are the differences between the SQLite and the PostgreSQL
// schema that are intended, exactly as diffSchemas words them, with the
// reason. A difference that stops occurring must be removed from here too.
var knownDifferences = map[string]string{
	"users: check users_is_admin_check: on sqlite only": "SQLite has no boolean type: a BOOLEAN column takes any value unless a CHECK keeps it to FALSE and TRUE; PostgreSQL's boolean does that itself",
	"table auth_changes: on sqlite only":                "the change counter that SQLite's triggers keep for the session cache; PostgreSQL's triggers notify listeners instead (migration 0007)",
}

// TestSchemaParity migrates a fresh database on each engine and compares the
// two schemas as the engines' catalogs report them.
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	lite := describeSQLite(t, testdb.Raw(t, testdb.EmptyDSN(t, database.SQLite)))
	pg := describePostgres(t, testdb.Raw(t, testdb.EmptyDSN(t, database.Postgres)))

	var unexpected []string
	seen := map[string]bool{}
	for _, d := range diffSchemas(lite, pg) {
		if _, ok := knownDifferences[d]; ok {
			seen[d] = true
			continue
		}
		unexpected = append(unexpected, d)
	}
	if len(unexpected) > 0 {
		t.Errorf("the SQLite and PostgreSQL schemas differ (schema/sqlite and schema/postgres must match, "+
			"or the difference be listed in knownDifferences with its reason):\n\t%s", strings.Join(unexpected, "\n\t"))
	}
	for d := range knownDifferences {
		if !seen[d] {
			t.Errorf("known difference no longer occurs; remove it from knownDifferences: %s", d)
		}
	}
}

// diffSchemas lists every difference between a (SQLite) and b (PostgreSQL),
// one line each, sorted.
func diffSchemas(a, b schemaDesc) []string {
	const an, bn = "sqlite", "postgres"
	var out []string
	for _, name := range unionKeys(a, b) {
		ta, tb := a[name], b[name]
		switch {
		case tb == nil:
			out = append(out, fmt.Sprintf("table %s: on %s only", name, an))
			continue
		case ta == nil:
			out = append(out, fmt.Sprintf("table %s: on %s only", name, bn))
			continue
		}
		for _, col := range unionKeys(ta.notNull, tb.notNull) {
			na, inA := ta.notNull[col]
			nb, inB := tb.notNull[col]
			switch {
			case !inB:
				out = append(out, fmt.Sprintf("%s: column %s: on %s only", name, col, an))
			case !inA:
				out = append(out, fmt.Sprintf("%s: column %s: on %s only", name, col, bn))
			case na != nb:
				out = append(out, fmt.Sprintf("%s: column %s: %s on %s, %s on %s", name, col, nullability(na), an, nullability(nb), bn))
			}
		}
		if !slices.Equal(ta.primaryKey, tb.primaryKey) {
			out = append(out, fmt.Sprintf("%s: primary key: (%s) on %s, (%s) on %s", name,
				strings.Join(ta.primaryKey, ", "), an, strings.Join(tb.primaryKey, ", "), bn))
		}
		for _, c := range unionKeys(ta.constraints, tb.constraints) {
			ka, inA := ta.constraints[c]
			kb, inB := tb.constraints[c]
			switch {
			case !inB:
				out = append(out, fmt.Sprintf("%s: %s %s: on %s only", name, ka, c, an))
			case !inA:
				out = append(out, fmt.Sprintf("%s: %s %s: on %s only", name, kb, c, bn))
			case ka != kb:
				out = append(out, fmt.Sprintf("%s: %s: a %s on %s, a %s on %s", name, c, ka, an, kb, bn))
			}
		}
	}
	sort.Strings(out)
	return out
}

func nullability(notNull bool) string {
	if notNull {
		return "NOT NULL"
	}
	return "nullable"
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// queryStrings runs query and returns each row's columns as strings.
func queryStrings(t *testing.T, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(query, args...)
	require.NoError(t, err, query)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		row := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		require.NoError(t, rows.Scan(ptrs...), query)
		strs := make([]string, len(cols))
		for i, v := range row {
			strs[i] = v.String
		}
		out = append(out, strs)
	}
	require.NoError(t, rows.Err(), query)
	return out
}

// describePostgres reads the tables of the current schema from
// PostgreSQL's catalogs.
func describePostgres(t *testing.T, db *sql.DB) schemaDesc {
	t.Helper()
	s := schemaDesc{}
	for _, r := range queryStrings(t, db, `
		SELECT c.relname, a.attname, a.attnotnull::text
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')`) {
		s.table(r[0]).notNull[r[1]] = r[2] == "true"
	}
	// contype 'n' (NOT NULL, PostgreSQL 18) is covered by the columns, 't'
	// (constraint trigger) by the triggers below.
	for _, r := range queryStrings(t, db, `
		SELECT c.relname, k.conname, k.contype::text
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND k.contype IN ('u', 'c', 'f', 'x')`) {
		kind := map[string]string{"u": kindUnique, "c": kindCheck, "f": kindForeignKey, "x": kindExclusion}[r[2]]
		s.addConstraint(t, r[0], r[1], kind)
	}
	for _, r := range queryStrings(t, db, `
		SELECT c.relname, a.attname
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS key(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = key.attnum
		WHERE n.nspname = current_schema() AND k.contype = 'p'
		ORDER BY c.relname, key.ord`) {
		tab := s.table(r[0])
		tab.primaryKey = append(tab.primaryKey, r[1])
	}
	// Indexes of their own, not those behind a constraint.
	for _, r := range queryStrings(t, db, `
		SELECT c.relname, i.relname, x.indisunique::text
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema()
		AND NOT EXISTS (SELECT 1 FROM pg_constraint k
			WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))`) {
		kind := kindIndex
		if r[2] == "true" {
			kind = kindUniqueIndex
		}
		s.addConstraint(t, r[0], r[1], kind)
	}
	for _, r := range queryStrings(t, db, `
		SELECT c.relname, g.tgname
		FROM pg_trigger g
		JOIN pg_class c ON c.oid = g.tgrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND NOT g.tgisinternal`) {
		s.addConstraint(t, r[0], r[1], kindTrigger)
	}
	return s
}

var (
	// namedConstraint finds "CONSTRAINT name KIND" in a CREATE TABLE
	// statement stripped of comments and string literals.
	namedConstraint = regexp.MustCompile(`(?i)\bCONSTRAINT\s+("?)(\w+)"?\s+(CHECK|UNIQUE|REFERENCES|FOREIGN\s+KEY|PRIMARY\s+KEY|NOT\s+NULL|DEFAULT|COLLATE|GENERATED|AS)\b`)
	anyCheck        = regexp.MustCompile(`(?i)\bCHECK\s*\(`)
	withoutRowid    = regexp.MustCompile(`(?i)\)\s*WITHOUT\s+ROWID\b`)
	// checkTrigger is the body of a trigger that stands in for a CHECK.
	checkTrigger = regexp.MustCompile(`(?i)\bRAISE\s*\(\s*ABORT\s*,\s*'CHECK constraint failed: (\w+)'\s*\)`)
	beforeInsert = regexp.MustCompile(`(?i)\bBEFORE\s+INSERT\s+ON\b`)
	beforeUpdate = regexp.MustCompile(`(?i)\bBEFORE\s+UPDATE\b`)
)

// describeSQLite reads the tables from SQLite's catalog. SQLite keeps the
// names of CHECK, UNIQUE and foreign-key constraints only in the CREATE
// TABLE text, so those are parsed from it and checked against what the
// catalog does expose: the unique indexes behind UNIQUE constraints and the
// foreign-key list.
func describeSQLite(t *testing.T, db *sql.DB) schemaDesc {
	t.Helper()
	s := schemaDesc{}
	tables := queryStrings(t, db, `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	for _, tr := range tables {
		name, ddl := tr[0], stripSQL(tr[1])
		tab := s.table(name)
		var pkType []string
		for _, r := range queryStrings(t, db, `SELECT name, "notnull", pk, upper(type) FROM pragma_table_info(?1) ORDER BY pk`, name) {
			tab.notNull[r[0]] = r[1] == "1"
			if r[2] != "0" {
				tab.primaryKey = append(tab.primaryKey, r[0])
				pkType = append(pkType, r[3])
			}
		}
		// A lone INTEGER PRIMARY KEY is the rowid, which cannot be NULL,
		// though table_info says nullable; any other SQLite primary-key
		// column takes NULL unless declared NOT NULL.
		if len(pkType) == 1 && pkType[0] == "INTEGER" && !withoutRowid.MatchString(ddl) {
			tab.notNull[tab.primaryKey[0]] = true
		}

		declared := map[string][]string{} // kind -> names, from the CREATE TABLE text
		for _, m := range namedConstraint.FindAllStringSubmatch(ddl, -1) {
			kind := strings.ToUpper(strings.Join(strings.Fields(m[3]), " "))
			declared[kind] = append(declared[kind], m[2])
		}
		// Named NOT NULL, DEFAULT... constraints are legal but meaningless:
		// SQLite reports their violations by column.
		for _, kind := range []string{"NOT NULL", "DEFAULT", "COLLATE", "GENERATED", "AS"} {
			for _, n := range declared[kind] {
				t.Errorf("sqlite: %s: constraint %s is a named %s, which SQLite never reports by name", name, n, kind)
			}
		}

		for _, n := range declared["CHECK"] {
			s.addConstraint(t, name, n, kindCheck)
		}
		if all := len(anyCheck.FindAllString(ddl, -1)); all != len(declared["CHECK"]) {
			t.Errorf("sqlite: %s: %d CHECK constraints have no name: SQLite reports their violations by expression, not by a name ConstraintOf can map",
				name, all-len(declared["CHECK"]))
		}

		fks := queryStrings(t, db, `SELECT DISTINCT id FROM pragma_foreign_key_list(?1)`, name)
		fkNames := slices.Concat(declared["REFERENCES"], declared["FOREIGN KEY"])
		for _, n := range fkNames {
			s.addConstraint(t, name, n, kindForeignKey)
		}
		if len(fks) != len(fkNames) {
			t.Errorf("sqlite: %s: the catalog lists %d foreign keys, the CREATE TABLE text names %d: %v", name, len(fks), len(fkNames), fkNames)
		}

		// UNIQUE constraints are the indexes of origin 'u'. SQLite reports
		// a violation by column ("users.username"), from which ConstraintOf
		// makes the name; that is the name the code sees, and the declared
		// name must be the same or it misleads.
		var reported []string
		for _, r := range queryStrings(t, db, `SELECT name, "unique", origin FROM pragma_index_list(?1)`, name) {
			idx, unique, origin := r[0], r[1] == "1", r[2]
			switch origin {
			case "u":
				var cols []string
				for _, c := range queryStrings(t, db, `SELECT name FROM pragma_index_info(?1) ORDER BY seqno`, idx) {
					cols = append(cols, c[0])
				}
				n := name + "_" + strings.Join(cols, "_") + "_key"
				reported = append(reported, n)
				s.addConstraint(t, name, n, kindUnique)
			case "c":
				kind := kindIndex
				if unique {
					kind = kindUniqueIndex
				}
				s.addConstraint(t, name, idx, kind)
			}
			// "pk": the primary key of a table with a non-integer one,
			// compared through primaryKey.
		}
		sort.Strings(reported)
		decl := slices.Sorted(slices.Values(declared["UNIQUE"]))
		if !slices.Equal(reported, decl) {
			t.Errorf("sqlite: %s: UNIQUE constraints are declared as %v, but SQLite reports their violations by column, "+
				"which ConstraintOf turns into %v", name, decl, reported)
		}
	}

	// Triggers: a pair <check>_insert and <check>_update that raise
	// "CHECK constraint failed: <check>" is the CHECK <check> (SQLite cannot
	// add a CHECK to a table with rows); any other trigger is itself.
	type half struct{ insert, update bool }
	emulated := map[[2]string]*half{}
	for _, r := range queryStrings(t, db, `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'`) {
		trig, table, ddl := r[0], r[1], stripComments(r[2])
		m := checkTrigger.FindStringSubmatch(ddl)
		var check string
		if m != nil {
			check = m[1]
		}
		key := [2]string{table, check}
		switch {
		case check != "" && trig == check+"_insert" && beforeInsert.MatchString(ddl):
			if emulated[key] == nil {
				emulated[key] = &half{}
			}
			emulated[key].insert = true
		case check != "" && trig == check+"_update" && beforeUpdate.MatchString(ddl):
			if emulated[key] == nil {
				emulated[key] = &half{}
			}
			emulated[key].update = true
		default:
			s.addConstraint(t, table, trig, kindTrigger)
		}
	}
	for key, h := range emulated {
		table, check := key[0], key[1]
		switch {
		case h.insert && h.update:
			s.addConstraint(t, table, check, kindCheck)
		case h.insert:
			t.Errorf("sqlite: %s: trigger %s_insert stands in for CHECK %s, but %s_update is missing: updates are not checked", table, check, check, check)
			s.addConstraint(t, table, check+"_insert", kindTrigger)
		default:
			t.Errorf("sqlite: %s: trigger %s_update stands in for CHECK %s, but %s_insert is missing: inserts are not checked", table, check, check, check)
			s.addConstraint(t, table, check+"_update", kindTrigger)
		}
	}
	return s
}

// stripSQL returns ddl without comments and with every string literal
// emptied, so that a name in either is not taken for a constraint.
func stripSQL(ddl string) string { return strip(ddl, true) }

// stripComments returns ddl without comments, literals intact.
func stripComments(ddl string) string { return strip(ddl, false) }

func strip(ddl string, literals bool) string {
	var b strings.Builder
	for i := 0; i < len(ddl); i++ {
		switch {
		case ddl[i] == '\'':
			j := i + 1
			for j < len(ddl) {
				if ddl[j] == '\'' {
					if j+1 < len(ddl) && ddl[j+1] == '\'' { // '' inside a literal
						j += 2
						continue
					}
					break
				}
				j++
			}
			if literals {
				b.WriteString("''")
			} else {
				b.WriteString(ddl[i:min(j+1, len(ddl))])
			}
			i = j
		case strings.HasPrefix(ddl[i:], "--"):
			for i < len(ddl) && ddl[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case strings.HasPrefix(ddl[i:], "/*"):
			end := strings.Index(ddl[i+2:], "*/")
			if end < 0 {
				i = len(ddl)
			} else {
				i += 2 + end + 1
			}
			b.WriteByte(' ')
		default:
			b.WriteByte(ddl[i])
		}
	}
	return b.String()
}

// constraintOfTestNames are the schema names that the repository's tests of
// ConstraintOf expect, with the kind they expect: TestConstraintOfEveryEngine
// (engines_test.go), auth's schema_test.go, and the one auth/signing.go
// matches. errors_test.go's names are
// left out: they belong to a scratch table of its own (t_*, parent_*) or are
// examples of SQLite messages for the parser (users_email_lower_key, dropped
// by migration 0003, and users_id_key).
var constraintOfTestNames = map[string]database.ConstraintKind{
	"users_username_key":              database.Unique,
	"users_email_canonical_key":       database.Unique,
	"users_phone_key":                 database.Unique,
	"users_public_id_key":             database.Unique,
	"credentials_user_id_key":         database.Unique,
	"credentials_user_id_fkey":        database.ForeignKey,
	"users_phone_check":               database.Check,
	"users_username_check":            database.Check,
	"users_email_check":               database.Check,
	"users_email_canonical_check":     database.Check,
	"credentials_password_hash_check": database.Check,
	// auth/signing.go tells a concurrent creation of the first signing key
	// by it (TestFirstSigningKeyConcurrent).
	"signing_keys_state_key": database.Unique,
}

// TestMappedConstraintsExist checks that every constraint name the code
// maps errors by exists, as a constraint of the expected kind, on both
// engines: renaming one in one dialect must fail here, not in production
// where the violation would turn from a typed error into a plain one.
func TestMappedConstraintsExist(t *testing.T) {
	t.Parallel()
	mapped := map[string]database.ConstraintKind{}
	for _, n := range authUniqueFields(t) {
		mapped[n] = database.Unique
	}
	for n, k := range constraintOfTestNames {
		if old, ok := mapped[n]; ok && old != k {
			t.Fatalf("%s is mapped as a %s and as a %s", n, old, k)
		}
		mapped[n] = k
	}

	engines := []struct {
		name string
		desc func() schemaDesc
	}{
		{"sqlite", func() schemaDesc { return describeSQLite(t, testdb.Raw(t, testdb.EmptyDSN(t, database.SQLite))) }},
		{"postgres", func() schemaDesc { return describePostgres(t, testdb.Raw(t, testdb.EmptyDSN(t, database.Postgres))) }},
	}
	for _, e := range engines {
		s := e.desc()
		found := map[string][]string{} // name -> "table (kind)"
		for table, tab := range s {
			for n, kind := range tab.constraints {
				found[n] = append(found[n], fmt.Sprintf("%s (%s)", table, kind))
				if want, ok := mapped[n]; ok && violationKind(kind) != want {
					t.Errorf("%s: %s is mapped as a %s violation, but on %s it is a %s on table %s", e.name, n, want, e.name, kind, table)
				}
			}
		}
		for _, n := range slices.Sorted(maps.Keys(mapped)) {
			switch len(found[n]) {
			case 0:
				t.Errorf("%s: %s, which the code maps errors by, does not exist", e.name, n)
			case 1:
			default:
				t.Errorf("%s: %s names more than one object: %v", e.name, n, found[n])
			}
		}
	}
}

// authUniqueFields returns the keys of uniqueFields in auth/store.go, the
// unique constraints that the auth package maps to fields. It is read from
// the source because it is unexported, and exporting it only for this test
// would widen auth's API.
func authUniqueFields(t *testing.T) []string {
	t.Helper()
	const file, varName = "../../auth/store.go", "uniqueFields"
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, id := range vs.Names {
			if id.Name != varName || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.CompositeLit)
			if !ok {
				continue
			}
			for _, elt := range lit.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if bl, ok := kv.Key.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					s, err := strconv.Unquote(bl.Value)
					require.NoError(t, err)
					names = append(names, s)
				}
			}
		}
		return false
	})
	require.NotEmpty(t, names, "found no string keys in %s's %s map literal; if it changed shape, update authUniqueFields", file, varName)
	return names
}
