package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

// Store registers, authenticates and manages users. It is safe for
// concurrent use; open one per database and share it.
type Store struct {
	db  *database.DB
	cfg Config
	// q holds every query prepared once on the pool, for the statements
	// that run outside a transaction: the reads on the hot path.
	q      *db.Queries
	dummy  []byte // a hash of the configured algorithm and cost, compared when no user matched
	hasher hasher
	gate   *hashGate
	keys   keys // the signing keys, cached (signing.go)
	// ring, once SetSecretKeys has run, replaces Config.SecretKeys (see
	// secretKeys).
	ring atomic.Pointer[Keyring]
	// verified remembers the access tokens that verified (verified.go).
	verified verifiedTokens
	// cache remembers session lookups (sessioncache.go); nil when
	// Config.SessionCacheSize disables it.
	cache *sessionCache
	// unknownResets bounds the audit events of reset requests for
	// addresses without an account (noise.go).
	unknownResets eventWindow
}

// User is a registered user. It deliberately has no field for the password
// hash: the hash never leaves the store.
//
// It encodes to JSON as a client may see it: the public id first, snake_case
// keys, every key always present ("" for a username or phone the user has
// none of). The internal ID is not encoded: it is sequential, so it would
// tell clients how many accounts exist and invite them to guess others';
// outside the service a user is named by PublicID.
type User struct {
	ID        int64     `json:"-"`
	PublicID  string    `json:"public_id"` // time-ordered UUID, for use outside the service
	Username  string    `json:"username"`  // "" when the user has none
	Email     string    `json:"email"`
	Phone     string    `json:"phone"` // E.164, "" when the user has none
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// DisabledAt is when an administrator disabled the account
	// (DisableUser), nil while it is enabled.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// Open opens the database that dsn names and applies pending migrations.
//
// A "postgres://" or "postgresql://" URL opens PostgreSQL
// ("postgres://user:pass@db.internal:5432/app?sslmode=verify-full"); the
// database must exist, credstore creates its tables. The URL may size the
// pool with pool_max_conns, pool_max_conn_lifetime and
// pool_max_conn_idle_time (see docs/postgres.md). Anything else opens
// (creating it if needed) the SQLite database at dsn, a file path or a
// "file:" URI. Both engines behave alike through the Store's API.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := database.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, d, cfg)
}

// OpenMemory opens a store on a fresh, private in-memory SQLite database,
// for tests and for trying the library out. Its data is gone after Close.
func OpenMemory(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := database.OpenMemory(ctx)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, d, cfg)
}

func newStore(ctx context.Context, d *database.DB, cfg Config) (*Store, error) {
	if cfg.AppMigrations != nil {
		if err := d.MigrateApp(ctx, cfg.AppMigrations); err != nil {
			d.Close()
			return nil, err
		}
	}
	h := newHasher(cfg)
	dummy, err := h.dummy()
	if err != nil {
		d.Close()
		return nil, err
	}
	q, err := db.Prepare(ctx, d.Executor())
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	cache, err := newSessionCache(ctx, d, cfg)
	if err != nil {
		q.Close()
		d.Close()
		return nil, err
	}
	return &Store{db: d, cfg: cfg, q: q, dummy: dummy, hasher: h, gate: newHashGate(cfg.MaxConcurrentHashes, cfg.MaxQueuedHashes), cache: cache}, nil
}

// Close closes the database. A store opened on the application's pool
// (OpenDB) releases only what it prepared on it; the pool stays open.
func (s *Store) Close() error {
	return errors.Join(s.cache.close(), s.q.Close(), s.db.Close())
}

// read runs one statement outside a transaction, query with arg, and maps
// its error to the package's (mapError), as inTx maps a transaction's: a
// read that finds nothing is ErrNotFound whichever query made it. Every
// statement outside a transaction goes through read or read0, which
// TestStatementsMapErrors checks; the accessors are s.q's.
func read[A, T any](ctx context.Context, query func(context.Context, A) (T, error), arg A) (T, error) {
	v, err := query(ctx, arg)
	return v, mapError(err)
}

// read0 is read for a statement without parameters.
func read0[T any](ctx context.Context, query func(context.Context) (T, error)) (T, error) {
	v, err := query(ctx)
	return v, mapError(err)
}

// now is the store's clock in UTC, truncated to microseconds: both engines
// store that precision exactly, so a time read back equals the time written.
func (s *Store) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

func userFromDB(u db.User) User {
	return User{
		ID:         u.ID,
		PublicID:   u.PublicID,
		Username:   u.Username.String,
		Email:      u.Email,
		Phone:      u.Phone.String,
		IsAdmin:    u.IsAdmin,
		CreatedAt:  u.CreatedAt.UTC(),
		UpdatedAt:  u.UpdatedAt.UTC(),
		DisabledAt: timeOrNil(u.DisabledAt),
	}
}

// timeOrNil is t's time in UTC, or nil when it is NULL.
func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func nullable(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// uniqueFields maps each unique constraint or index to the field it guards.
var uniqueFields = map[string]string{
	"users_username_key":        FieldUsername,
	"users_email_canonical_key": FieldEmail,
	"users_phone_key":           FieldPhone,
	"users_public_id_key":       FieldPublicID, // only an imported id can collide
}

// mapError is the one place that turns a database error into the
// package's errors: no rows, and a foreign key naming a user who is gone,
// become ErrNotFound (a caller that looked up a session or token says so in
// its own sentinel); a violated unique constraint on a user field becomes
// *DuplicateError; an error of a database unavailable for now
// (database.IsUnavailable: a restart, a full disk, a write lock held past
// its wait) is marked ErrUnavailable. Anything else is returned as it is.
func mapError(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if v, ok := database.ConstraintOf(err); ok {
		switch v.Kind {
		case database.ForeignKey:
			return ErrNotFound
		case database.Unique:
			if field, ok := uniqueFields[v.Name]; ok {
				return &DuplicateError{Field: field}
			}
		}
	}
	return database.Unavailable(err)
}

// wrap prefixes err with the operation's name, leaving the typed errors
// matchable with errors.Is and errors.As.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
