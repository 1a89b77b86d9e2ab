// Package auth registers users, logs them in and manages them, on top of the
// sqlc-generated accessors in package db.
//
// # Design
//
// A Store wraps one database. Each exported method validates its input,
// does the slow work (bcrypt) first, and only then opens a short write
// transaction through the one helper inTx, so the write lock is never held
// while bcrypt runs. On SQLite every transaction begins IMMEDIATE and the
// connection waits out a busy writer, so callers never see "database is
// locked".
//
// The database is the authority on its rules. Unique constraints decide
// duplicates (insert, then map the violation: there is no select-then-
// insert race); NOT NULL, CHECK and FOREIGN KEY constraints repeat the Go
// validation so that a row written by other means obeys them too.
//
// # Errors
//
// Errors are values, matched with errors.Is and errors.As:
//
//   - ErrInvalidCredentials: every failed login, whatever the cause
//   - *ValidationError (ErrValidation): every invalid field at once
//   - *DuplicateError (ErrDuplicate): the field another user holds
//   - ErrNotFound: no such user
//   - ErrInvalidSession: every session token that names no live session
//   - ErrSessionNotFound: no session with that id for that user
//   - ErrInvalidResetToken: every reset token that cannot be used
//
// Other errors come from the database and are wrapped with the operation's
// name. No error message contains a password, a hash or a token.
//
// # Security
//
// Passwords are stored only as bcrypt hashes, at cost DefaultBcryptCost (12)
// or higher; a lower cost needs Config.InsecureAllowLowBcryptCostForTesting.
// A login for an unknown user is compared against a dummy hash at the same
// cost, so it takes as long as a wrong password. Passwords longer than
// MaxPasswordBytes (72) are refused everywhere rather than truncated, since
// bcrypt ignores the bytes past the 72nd. A successful login rehashes a
// password stored at a lower cost than the store's.
//
// Session and password-reset tokens are 256 bits from Config.Rand
// (crypto/rand by default); the database keeps only their SHA-256, so a copy
// of it opens no session and resets no password. A login always makes a new
// session token. Validating a session is one read; its last use is recorded
// at most once per SessionTouchInterval. Changing, setting or resetting a
// password ends every session of the user; a reset token works once, and of
// two concurrent uses exactly one succeeds.
//
// # Changing the schema
//
// Add a numbered pair of migrations under schema/<engine>/, change or add
// queries under queries/, and run sqlc generate at the module root; never
// edit package db by hand. Migrations apply when a store opens.
package auth
