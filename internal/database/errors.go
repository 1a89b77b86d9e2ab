package database

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ConstraintKind says which sort of constraint a statement violated.
type ConstraintKind int

// The constraint kinds that ConstraintOf recognises.
const (
	Unique ConstraintKind = iota + 1
	ForeignKey
	Check
	NotNull
)

func (k ConstraintKind) String() string {
	switch k {
	case Unique:
		return "unique"
	case ForeignKey:
		return "foreign key"
	case Check:
		return "check"
	case NotNull:
		return "not null"
	}
	return "unknown"
}

// Violation describes a constraint violation in engine-neutral terms.
type Violation struct {
	Kind ConstraintKind
	// Name is the violated constraint or index, as named in the schema
	// ("users_email_lower_key"); both engines' schemas use the same names.
	// For a NOT NULL violation it is the column ("users.email"); for a
	// SQLite foreign-key violation it is empty, because SQLite does not say
	// which key failed (PostgreSQL does: "credentials_user_id_fkey").
	Name string
}

// ConstraintOf reports the constraint violation behind err, if it is one.
// It is the one place that reads driver errors: by result code (SQLite's
// extended codes, PostgreSQL's SQLSTATE), and by the constraint name where
// the engine reports one.
func ConstraintOf(err error) (Violation, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresConstraint(pe)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return Violation{}, false
	}
	var kind ConstraintKind
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		kind = Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		kind = ForeignKey
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		kind = Check
	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		kind = NotNull
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		// The schema's triggers stand in for CHECKs that SQLite cannot add
		// to a table with rows, and fail as CHECKs do (0003_*.up.sql).
		if !strings.Contains(se.Error(), "CHECK constraint failed: ") {
			return Violation{}, false
		}
		kind = Check
	default:
		return Violation{}, false
	}
	return Violation{Kind: kind, Name: sqliteConstraintName(kind, se.Error())}, true
}

// sqliteConstraintName extracts the constraint from SQLite's message. SQLite
// has no API for it; the detail after "constraint failed: " is its stable,
// documented form:
//
//	UNIQUE constraint failed: users.username          (column constraint)
//	UNIQUE constraint failed: index 'users_email_lower_key'
//	CHECK constraint failed: users_phone_check
//	NOT NULL constraint failed: users.email
//
// A column list "t.a, t.b" becomes "t_a_b_key", the name PostgreSQL would
// give the same constraint and the name the schema spells out.
func sqliteConstraintName(kind ConstraintKind, msg string) string {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	detail := msg[i+len(marker):]
	// modernc appends the numeric code: "... users.username (2067)".
	if j := strings.LastIndex(detail, " ("); j >= 0 && strings.HasSuffix(detail, ")") {
		detail = detail[:j]
	}
	switch kind {
	case Unique:
		if name, ok := strings.CutPrefix(detail, "index "); ok {
			return strings.Trim(name, "'")
		}
		cols := strings.Split(detail, ", ")
		table, _, _ := strings.Cut(cols[0], ".")
		parts := []string{table}
		for _, c := range cols {
			_, col, _ := strings.Cut(c, ".")
			parts = append(parts, col)
		}
		return strings.Join(parts, "_") + "_key"
	case ForeignKey:
		return ""
	}
	return detail
}

// PostgreSQL's SQLSTATEs for integrity constraint violations.
const (
	pgNotNullViolation    = "23502"
	pgForeignKeyViolation = "23503"
	pgUniqueViolation     = "23505"
	pgCheckViolation      = "23514"
)

// PostgreSQL's SQLSTATEs for a transaction the server rolled back that may
// well commit when run again.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// retryable reports whether err means the server rolled the transaction
// back for a reason that running it again may remove: it was the victim of
// a deadlock, or could not be serialized with a concurrent one. SQLite has
// neither: its writers queue on the database lock (see BusyTimeout).
func retryable(err error) bool {
	switch SQLState(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return false
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY (any extended
// code): another connection holds a lock this one needed.
func sqliteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// SQLState returns the PostgreSQL SQLSTATE behind err ("55006"), or "" when
// err carries none (SQLite errors among them). It is for tools and tests
// that act on one specific server condition; the store itself goes through
// ConstraintOf and DB.InTx.
func SQLState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func postgresConstraint(pe *pgconn.PgError) (Violation, bool) {
	switch pe.Code {
	case pgUniqueViolation:
		return Violation{Kind: Unique, Name: pe.ConstraintName}, true
	case pgForeignKeyViolation:
		return Violation{Kind: ForeignKey, Name: pe.ConstraintName}, true
	case pgCheckViolation:
		return Violation{Kind: Check, Name: pe.ConstraintName}, true
	case pgNotNullViolation:
		// "table.column", as SQLite names it.
		return Violation{Kind: NotNull, Name: pe.TableName + "." + pe.ColumnName}, true
	}
	return Violation{}, false
}
