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
// A check made outside a transaction is asserted again inside the
// transaction that acts on it. A login verifies the password, then creates
// its session only if the stored hash is still the one verified; a password
// change is a compare-and-swap on the hash; a reset token is read before
// bcrypt and spent by a conditional delete after it. Every transaction that
// writes a user's credential, sessions or reset token locks the user's row
// first, so on PostgreSQL such transactions wait for each other in one order
// (and in DeleteUser's, whose cascade also starts at users) instead of
// deadlocking, and the one that waited sees what the other committed.
//
// bcrypt runs behind a gate (Config.MaxConcurrentHashes running,
// Config.MaxQueuedHashes waiting): a burst beyond it gets ErrOverloaded at
// once, before any work, instead of slowing every caller past its deadline.
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
//   - ErrOverloaded: too many password hashes in flight; nothing was done
//   - *ThrottledError (ErrThrottled): too many failed attempts; retry at RetryAt
//   - *AuditChainError (ErrAuditChainBroken): the audit trail was tampered with
//   - *SecondFactorRequiredError (ErrSecondFactorRequired): the password was
//     right; answer the challenge with CompleteLogin
//   - ErrNoSecretKey, ErrNoEnrollment, ErrInvalidCode, ErrNoSecondFactor:
//     two-factor enrollment and removal
//
// Other errors come from the database and are wrapped with the operation's
// name. No error message contains a password, a hash or a token.
//
// # Security
//
// Passwords are stored only as bcrypt hashes, at cost DefaultBcryptCost (12)
// or higher (a lower cost needs Config.InsecureAllowLowBcryptCostForTesting),
// or as Argon2id PHC strings (Config.PasswordHash, Config.Argon2). A login
// for an unknown user is compared against a dummy hash of the same algorithm
// and cost, so it takes as long as a wrong password. Passwords longer than
// MaxPasswordBytes (72) are refused everywhere rather than truncated, since
// bcrypt ignores the bytes past the 72nd. A successful login rehashes a
// password stored with another algorithm, other Argon2 parameters or a lower
// bcrypt cost than the store's.
//
// Session and password-reset tokens are 256 bits from Config.Rand
// (crypto/rand by default); the database keeps only their SHA-256, so a copy
// of it opens no session and resets no password. A login always makes a new
// session token. Validating a session is one read; its last use is recorded
// at most once per SessionTouchInterval. Changing, setting or resetting a
// password ends every session of the user; a reset token works once, and of
// two concurrent uses exactly one succeeds. A reset token works only while
// the account keeps the address it was sent to; changing the address spends
// it and ends the user's other sessions. A session or token created more
// than MaxClockSkew in the future (by a clock that was wrong) is refused.
//
// Passwords with control characters (NUL above all: bcrypt cannot tell
// "abcd\x00abcd" from "abcd") are refused everywhere, as over-long ones are.
//
// # Throttling
//
// Logins, ChangePassword's current passwords and reset requests are counted
// per account in the database (table throttles), or per SHA-256 of the
// normalized identifier when it names no account, so that unknown
// identifiers are throttled exactly like known ones; a browser presenting a
// device token of the account (LoginWithDevice) is counted apart. A waiting
// bucket refuses an attempt after one read, before any bcrypt work, with
// *ThrottledError. An attempt is counted before its bcrypt runs, in a
// transaction that takes the bucket's row, so concurrent guesses cannot
// slip past the policy (ThrottlePolicy); a success clears the bucket.
//
// # Audit trail
//
// Every write transaction goes through inTx, which carries one time for the
// whole transaction and the audit events the operation records, and appends
// them to audit_events just before it commits: an event exists exactly when
// its change committed. Events are hash-chained (VerifyAuditChain), outlive
// the users they are about, and never hold a password, hash, token or the
// identifier of a failed login that named no account. The client and actor
// come from the context (WithClient, WithActor).
//
// # Two-factor authentication
//
// A user may have one TOTP factor (RFC 6238, SHA-1, 6 digits, 30 s), its
// secret stored AES-256-GCM encrypted under a Keyring key, with recovery
// codes stored as SHA-256. A correct password for such a user returns a
// challenge (*SecondFactorRequiredError) instead of a session;
// CompleteLogin answers it. A code is accepted only for a time step later
// than the last one spent, by one conditional update, so no code works
// twice; a recovery code is spent by one conditional delete.
//
// # Identities
//
// An email address is one account by its canonical form, computed in Go by
// internal/identity and stored in users.email_canonical with the unique
// index: Unicode-normalised, case- and width-folded, its domain as an IDNA
// A-label; invisible, control, bidi and mixed-script characters are refused.
// Both engines therefore agree on which addresses are the same (lower() would
// not). users.email keeps the address as typed, for display and mail.
// Invalid UTF-8 and NUL in any identifier are refused before a query runs.
//
// # Changing the schema
//
// Add a numbered pair of migrations under schema/<engine>/, change or add
// queries under queries/, and run sqlc generate at the module root; never
// edit package db by hand. Migrations apply when a store opens.
package auth
