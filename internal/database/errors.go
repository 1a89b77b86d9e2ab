package database

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

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

// ErrUnavailable is matched by every error that Unavailable marks: the
// database could not be reached or could not take the statement for a
// reason of its own that passes (a restart, a connection the server ended,
// a full disk, too many connections), rather than for anything in the
// statement. Running it again later, unchanged, may well succeed.
var ErrUnavailable = errors.New("database unavailable")

// unavailableError is a driver error that IsUnavailable classified: it
// matches ErrUnavailable and still unwraps to the driver's error, for logs
// and for SQLState.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.err.Error() }

func (e *unavailableError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable returns err marked as ErrUnavailable when IsUnavailable
// classifies it so, and err as it is otherwise (nil included).
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !IsUnavailable(err) {
		return err
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err means that the database is unavailable
// for now, not that the statement or the data is wrong. It is the one
// place that decides it, from the drivers' errors:
//
//   - PostgreSQL, by SQLSTATE: class 08 (connection exception), class 53
//     (insufficient resources: disk full 53100, out of memory 53200, too
//     many connections 53300), and 57P01, 57P02, 57P03 (the server is
//     shutting down, crashed, or is starting up). That covers a connection
//     the server ended (pg_terminate_backend, a restart) and a connection
//     refused at start-up. 57P04 (the database was dropped) and 57014 (a
//     statement timeout or cancel) are not: the first will not pass, the
//     second is the caller's deadline.
//   - A connection that could not be made, or broke: pgconn's
//     *ConnectError, driver.ErrBadConn, a network error, an EOF from the
//     server, ECONNREFUSED, ECONNRESET, EPIPE. A connection refused for a
//     wrong password, an unknown database or a certificate the client does
//     not trust is not: it is the configuration, and will not pass.
//   - SQLite: SQLITE_FULL (the disk or the file's size limit),
//     SQLITE_NOMEM, and SQLITE_BUSY (another writer held the lock past
//     InTx's WriteWait). Not SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB or
//     SQLITE_CANTOPEN: a failing disk, a damaged file or a file that is not
//     there need the operator, and a retry would only hide them.
//
// An error of a context that ended (context.Canceled, DeadlineExceeded, a
// timeout on a connection that was made) is not unavailability: the caller
// stopped waiting, or the statement took too long. A connection not made
// within the URL's connect_timeout is.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgUnavailable(pe.Code)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR_NOMEM:
			return true
		}
		// The write lock held by another writer past InTx's WriteWait.
		return sqliteBusy(err)
	}
	if certificateError(err) {
		return false
	}
	// A connection that could not be made, for a reason not the server's
	// answer (read above): refused, unreachable, or not made within the
	// URL's connect_timeout, which pgconn reports as a deadline of its own.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && !ne.Timeout() ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// pgUnavailable reports whether SQLSTATE code says that the server is
// unavailable for now (see IsUnavailable).
func pgUnavailable(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow:
		return true
	}
	return false
}

// PostgreSQL's SQLSTATEs of class 57 (operator intervention) that pass.
const (
	pgAdminShutdown    = "57P01"
	pgCrashShutdown    = "57P02"
	pgCannotConnectNow = "57P03"
)

// certificateError reports whether err is a TLS failure of the client's
// configuration (a certificate it does not trust, or a name that does not
// match): a connection that will never be made, not one that failed.
func certificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification)
}
