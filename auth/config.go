package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the bcrypt cost used when Config.BcryptCost is zero,
// and the lowest one a store accepts outside tests.
const DefaultBcryptCost = 12

// MaxPasswordBytes is bcrypt's input limit. bcrypt ignores every byte past
// the 72nd, so a longer password would be accepted on login by its first 72
// bytes alone; credstore refuses such passwords instead of truncating them.
const MaxPasswordBytes = 72

// Config configures a Store. The zero value is ready to use: every zero
// field takes the default its comment gives. A Config is validated once, when
// the store opens.
type Config struct {
	// AppMigrations holds the application's own migrations, applied when
	// the store opens, after credstore's, in a version track of their own
	// (see docs/embedding.md, "Your own tables"): a directory per engine,
	// sqlite/ and postgres/, of NNNN_name.up.sql and NNNN_name.down.sql
	// pairs numbered from 1, typically an embed.FS. Their tables may
	// reference users(id) ON DELETE CASCADE. Default: none.
	AppMigrations fs.FS

	// Policy decides which registrations and updates are valid.
	// Default: DefaultPolicy().
	Policy *Policy

	// BcryptCost is the cost of new password hashes. Default and minimum:
	// DefaultBcryptCost (12); at most bcrypt.MaxCost (31). A successful login
	// rehashes a password whose stored cost is lower.
	BcryptCost int

	// InsecureAllowLowBcryptCostForTesting lets BcryptCost go down to
	// bcrypt.MinCost (4), which makes tests fast and passwords cheap to
	// crack. Never set it in production.
	InsecureAllowLowBcryptCostForTesting bool

	// PasswordHash is the algorithm of new password hashes: HashBcrypt
	// ("bcrypt", at BcryptCost) or HashArgon2id ("argon2id", with Argon2).
	// Default: "bcrypt". A store verifies hashes of either algorithm (and
	// the salted layout ImportUsers accepts), and a successful login
	// rehashes a password stored with another algorithm or other parameters
	// to these.
	PasswordHash string

	// Argon2 are the parameters of new Argon2id hashes. Default (zero
	// value): DefaultArgon2Params. Outside tests Memory is at least 19 MiB
	// and Time at least 1; always Time at most 16 and Threads 1 to 16. An
	// Argon2 hash needing more memory than max(Argon2.Memory,
	// DefaultArgon2Params.Memory) matches nothing, and is refused by
	// ImportUsers, so no stored hash can make a login cost more than that.
	Argon2 Argon2Params

	// InsecureAllowLowArgon2ParamsForTesting lets Argon2.Memory go down to
	// 8 KiB per thread, which makes tests fast and passwords cheap to
	// crack. Never set it in production.
	InsecureAllowLowArgon2ParamsForTesting bool

	// Now is the clock. Default: time.Now. Times are stored in UTC,
	// truncated to microseconds, which both engines keep exactly.
	Now func() time.Time

	// Rand is the source of public ids and of session and reset tokens.
	// Default: crypto/rand.Reader. Anything else is for tests only: a
	// predictable source makes predictable tokens.
	Rand io.Reader

	// SessionLifetime is a session's absolute lifetime, counted from login.
	// Default: DefaultSessionLifetime (30 days).
	SessionLifetime time.Duration

	// SessionIdleTimeout ends a session that has not been used for this
	// long. Default: DefaultSessionIdleTimeout (24 hours); at least
	// 2 × SessionTouchInterval, because use is recorded at most once per
	// SessionTouchInterval and a session may so end up to one interval early.
	SessionIdleTimeout time.Duration

	// ResetTokenLifetime is how long a password-reset token works.
	// Default: DefaultResetTokenLifetime (30 minutes).
	ResetTokenLifetime time.Duration

	// MaxConcurrentHashes bounds the bcrypt hashes and comparisons running
	// at once (registrations, logins, password changes and resets).
	// Default: runtime.GOMAXPROCS(0), because bcrypt is CPU-bound and more at
	// once only slows every one of them down.
	MaxConcurrentHashes int

	// MaxQueuedHashes bounds the calls waiting for a turn when
	// MaxConcurrentHashes are running; a call beyond it fails at once with
	// ErrOverloaded. Default: 4 × MaxConcurrentHashes, so a call waits at
	// most about four hashing times (about a second at cost 12): a user is
	// better served by that than by an error and a retry, and a real burst
	// still gets its refusals at once. (Two per core refused the seventh of
	// seven simultaneous logins on two cores.) A negative value means no
	// queue.
	MaxQueuedHashes int

	// MaxHashMemory bounds the Argon2 memory in flight, in bytes. Each turn
	// at the hash gate may use the most memory one Argon2 comparison may
	// (max(Argon2.Memory, DefaultArgon2Params.Memory) KiB, whatever the
	// algorithm: a bcrypt store still verifies imported Argon2 hashes), so
	// the turns running at once are min(MaxConcurrentHashes, MaxHashMemory /
	// that). Default (0): no bound beyond MaxConcurrentHashes turns. A
	// budget below one turn's memory is an error.
	MaxHashMemory int64

	// LoginThrottle limits failed logins per account (and per identifier
	// that names no account), and ChangePassword's wrong current passwords
	// per user, counted apart. Default (zero value): DefaultLoginThrottle().
	LoginThrottle ThrottlePolicy

	// ResetThrottle limits password-reset requests per account (and per
	// address that names none). Default (zero value): DefaultResetThrottle().
	ResetThrottle ThrottlePolicy

	// DeviceLifetime is how long a device token (the device cookie of a
	// browser that logged in successfully) keeps counting the account's
	// attempts from that browser apart from everyone else's, counted from
	// its last successful login. Default: DefaultDeviceLifetime (90 days).
	DeviceLifetime time.Duration

	// AuditRetention is how long audit events are kept; PurgeExpired deletes
	// older ones. Default: DefaultAuditRetention (365 days); negative: keep
	// them for ever.
	AuditRetention time.Duration

	// SecretKeys encrypts TOTP secrets at rest (AES-256-GCM). Default: nil,
	// in which case EnrollTOTP fails with ErrNoSecretKey and logins of users
	// with a factor cannot complete. See ReadKeyFile and CreateKeyFile.
	SecretKeys *Keyring

	// AccessTokenLifetime is how long an access token (a JWT issued by
	// IssueTokens or RefreshTokens) is valid. Default:
	// DefaultAccessTokenLifetime (10 minutes); between one second and one
	// day. A retired signing key stays published this long (plus
	// MaxClockSkew and keyCacheTTL) after its retirement.
	AccessTokenLifetime time.Duration

	// TokenIssuer is the "iss" of access tokens, and what verifiers expect.
	// Default: "credstore".
	TokenIssuer string

	// TokenAudience is the "aud" of access tokens, and what verifiers
	// expect. Default: "credstore".
	TokenAudience string

	// TOTPIssuer names the service in authenticator apps ("issuer" of the
	// otpauth URI). Default: "credstore".
	TOTPIssuer string

	// ResetSender delivers password-reset tokens to users. Default: nil, in
	// which case RequestPasswordReset only returns the token and delivering
	// it is the caller's job.
	ResetSender Sender

	// SessionCacheSize is how many session lookups the store remembers in
	// this process, so that an authenticated request reads no database
	// (see SessionUser). The store forgets them all whenever it writes
	// anything a lookup reads, and when another connection commits such a
	// change (see SessionCacheMaxStale). Default (0): 10,000. A negative
	// size turns the cache off: every lookup reads the database.
	SessionCacheSize int

	// SessionCacheMaxStale bounds how long a change committed by another
	// connection (another process such as the admin command line, another
	// instance, an application's own transaction) can go unseen by the
	// cache: a revoked session is refused, a demoted administrator loses
	// the role, within this time. On SQLite a lookup reads the change
	// counter when the last read is older; on PostgreSQL a listening
	// connection receives each change within about a millisecond and
	// confirms every SessionCacheMaxStale/2 that none was missed (the
	// cache is bypassed while it cannot). Changes made through this store
	// take effect at once. Default (0): 100ms.
	SessionCacheMaxStale time.Duration

	// Logger receives what the store does in the background
	// (RunHousekeeping); the calls an application makes report through
	// their errors instead. It is never given a password, hash or token.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Defaults of the session and reset lifetimes.
const (
	DefaultSessionLifetime     = 30 * 24 * time.Hour
	DefaultSessionIdleTimeout  = 24 * time.Hour
	DefaultResetTokenLifetime  = 30 * time.Minute
	DefaultDeviceLifetime      = 90 * 24 * time.Hour
	DefaultAuditRetention      = 365 * 24 * time.Hour
	DefaultAccessTokenLifetime = 10 * time.Minute
)

// Defaults of the cache of session lookups.
const (
	DefaultSessionCacheSize     = 10000
	DefaultSessionCacheMaxStale = 100 * time.Millisecond
)

// withDefaults validates c and fills in its defaults, one group of settings
// at a time. The groups run in a fixed order, so that a Config wrong in
// several ways always reports the same problem first.
func (c Config) withDefaults() (Config, error) {
	for _, fill := range []func(*Config) error{
		(*Config).fillPolicy,
		(*Config).fillBcryptCost,
		(*Config).fillPasswordHash,
		(*Config).fillDependencies,
		(*Config).fillSessionCache,
		(*Config).fillThrottles,
		(*Config).fillSecretKeys,
		(*Config).fillTokenNames,
		(*Config).fillLifetimes,
		(*Config).fillHashLimits,
	} {
		if err := fill(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// fillPolicy takes a copy of the policy (DefaultPolicy when there is none),
// so that a caller's later edits change nothing, and checks it.
func (c *Config) fillPolicy() error {
	p := DefaultPolicy()
	if c.Policy != nil {
		p = *c.Policy
	}
	c.Policy = &p
	return c.Policy.check()
}

// fillBcryptCost accepts a cost below DefaultBcryptCost only when the
// configuration admits it is a test's.
func (c *Config) fillBcryptCost() error {
	if c.BcryptCost == 0 {
		c.BcryptCost = DefaultBcryptCost
	}
	minCost := DefaultBcryptCost
	if c.InsecureAllowLowBcryptCostForTesting {
		minCost = bcrypt.MinCost
	}
	if c.BcryptCost < minCost || c.BcryptCost > bcrypt.MaxCost {
		return fmt.Errorf("config: bcrypt cost %d is outside %d..%d", c.BcryptCost, minCost, bcrypt.MaxCost)
	}
	return nil
}

// fillPasswordHash fills in the algorithm and Argon2 parameters and checks
// them against the bounds Config's comments give.
func (c *Config) fillPasswordHash() error {
	if c.PasswordHash == "" {
		c.PasswordHash = HashBcrypt
	}
	if c.PasswordHash != HashBcrypt && c.PasswordHash != HashArgon2id {
		return fmt.Errorf("config: password hash %q is neither %q nor %q", c.PasswordHash, HashBcrypt, HashArgon2id)
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2Params
	}
	p := c.Argon2
	minMemory := uint32(minArgon2Memory)
	if c.InsecureAllowLowArgon2ParamsForTesting {
		minMemory = 8 * uint32(p.Threads)
	}
	switch {
	case p.Threads < 1 || p.Threads > maxArgon2Threads:
		return fmt.Errorf("config: argon2 threads %d is outside 1..%d", p.Threads, maxArgon2Threads)
	case p.Time < minArgon2Time || p.Time > maxArgon2Time:
		return fmt.Errorf("config: argon2 time %d is outside %d..%d", p.Time, minArgon2Time, maxArgon2Time)
	case p.Memory < max(minMemory, 8*uint32(p.Threads)) || p.Memory > 4<<20:
		return fmt.Errorf("config: argon2 memory %d KiB is outside %d..%d", p.Memory, max(minMemory, 8*uint32(p.Threads)), 4<<20)
	}
	return nil
}

// fillDependencies fills in what the store uses from outside: the clock, the
// source of randomness and the logger. Any value is valid.
func (c *Config) fillDependencies() error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// fillSessionCache fills in the size and staleness of the cache of session
// lookups. A negative size is valid (no cache); a negative staleness is not.
func (c *Config) fillSessionCache() error {
	if c.SessionCacheSize == 0 {
		c.SessionCacheSize = DefaultSessionCacheSize
	}
	if c.SessionCacheMaxStale < 0 {
		return fmt.Errorf("config: session cache max stale %v is negative", c.SessionCacheMaxStale)
	}
	if c.SessionCacheMaxStale == 0 {
		c.SessionCacheMaxStale = DefaultSessionCacheMaxStale
	}
	return nil
}

// fillThrottles fills in the login and reset throttles and reports the
// problems of both at once.
func (c *Config) fillThrottles() error {
	if c.LoginThrottle == (ThrottlePolicy{}) {
		c.LoginThrottle = DefaultLoginThrottle()
	}
	if c.ResetThrottle == (ThrottlePolicy{}) {
		c.ResetThrottle = DefaultResetThrottle()
	}
	return errors.Join(c.LoginThrottle.check("LoginThrottle"), c.ResetThrottle.check("ResetThrottle"))
}

// fillSecretKeys checks the keyring, when there is one, and takes a copy of
// it, so that a caller's later edits change nothing.
func (c *Config) fillSecretKeys() error {
	if err := c.SecretKeys.check(); err != nil {
		return err
	}
	if c.SecretKeys == nil {
		return nil
	}
	k := Keyring{Current: c.SecretKeys.Current, Keys: make(map[string][]byte, len(c.SecretKeys.Keys))}
	for id, key := range c.SecretKeys.Keys {
		k.Keys[id] = append([]byte(nil), key...)
	}
	c.SecretKeys = &k
	return nil
}

// fillTokenNames fills in the names the store gives itself in access tokens
// and authenticator apps. Any name is valid.
func (c *Config) fillTokenNames() error {
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "credstore"
	}
	if c.TokenIssuer == "" {
		c.TokenIssuer = "credstore"
	}
	if c.TokenAudience == "" {
		c.TokenAudience = "credstore"
	}
	return nil
}

// fillLifetimes fills in how long sessions, tokens, devices and audit events
// last, then checks each against the bounds its field's comment gives.
func (c *Config) fillLifetimes() error {
	if c.SessionLifetime == 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.ResetTokenLifetime == 0 {
		c.ResetTokenLifetime = DefaultResetTokenLifetime
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if c.DeviceLifetime == 0 {
		c.DeviceLifetime = DefaultDeviceLifetime
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = DefaultAuditRetention
	}
	switch {
	case c.SessionLifetime < time.Second:
		return fmt.Errorf("config: session lifetime %v is below one second", c.SessionLifetime)
	case c.SessionIdleTimeout < 2*SessionTouchInterval:
		return fmt.Errorf("config: session idle timeout %v is below %v", c.SessionIdleTimeout, 2*SessionTouchInterval)
	case c.ResetTokenLifetime < time.Second:
		return fmt.Errorf("config: reset token lifetime %v is below one second", c.ResetTokenLifetime)
	case c.AccessTokenLifetime < time.Second || c.AccessTokenLifetime > 24*time.Hour:
		return fmt.Errorf("config: access token lifetime %v is outside one second to one day", c.AccessTokenLifetime)
	case c.DeviceLifetime < time.Hour:
		return fmt.Errorf("config: device lifetime %v is below one hour", c.DeviceLifetime)
	case c.AuditRetention > 0 && c.AuditRetention < ThrottleWindow:
		return fmt.Errorf("config: audit retention %v is below one day", c.AuditRetention)
	}
	return nil
}

// fillHashLimits fills in how many hashes run at once (bounded by the
// Argon2 memory budget, MaxHashMemory) and how many wait for a turn; a
// negative queue means none.
func (c *Config) fillHashLimits() error {
	if c.MaxConcurrentHashes == 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.MaxQueuedHashes == 0:
		c.MaxQueuedHashes = 4 * c.MaxConcurrentHashes
	case c.MaxQueuedHashes < 0:
		c.MaxQueuedHashes = 0
	}
	if c.MaxConcurrentHashes < 1 {
		return fmt.Errorf("config: MaxConcurrentHashes %d is below 1", c.MaxConcurrentHashes)
	}
	if c.MaxHashMemory < 0 {
		return fmt.Errorf("config: MaxHashMemory %d is negative", c.MaxHashMemory)
	}
	if c.MaxHashMemory > 0 {
		turn := newHasher(*c).turnBytes()
		if c.MaxHashMemory < turn {
			return fmt.Errorf("config: MaxHashMemory %d is below one Argon2 hash's %d bytes", c.MaxHashMemory, turn)
		}
		c.MaxConcurrentHashes = int(min(int64(c.MaxConcurrentHashes), c.MaxHashMemory/turn))
	}
	return nil
}

// Policy holds the validation rules of registrations and updates. Start
// from DefaultPolicy and apply presets:
//
//	p := auth.DefaultPolicy().WithAlnumUsernames().WithLongPasswords()
//	p.RequirePhone = true
type Policy struct {
	// RequireUsername makes the username mandatory. Email is always
	// mandatory.
	RequireUsername bool
	// RequirePhone makes the phone number mandatory.
	RequirePhone bool

	// UsernameMinLen and UsernameMaxLen bound a username's length in
	// characters. A username is always printable ASCII without spaces or
	// '@' (so that a login name is never mistaken for an email address).
	UsernameMinLen, UsernameMaxLen int
	// UsernamePattern, when set, must match the whole username as well;
	// UsernameRule describes it in errors.
	UsernamePattern *regexp.Regexp
	UsernameRule    string

	// PasswordMinLen is a password's minimum length in characters. The
	// maximum is always MaxPasswordBytes bytes.
	PasswordMinLen int
	// The character classes a password must contain.
	PasswordNeedsUpper, PasswordNeedsLower, PasswordNeedsDigit, PasswordNeedsLetter bool
}

// DefaultPolicy: a username is required, 3 to 32 printable ASCII characters
// without spaces or '@'; a password has at least 8 characters; email is a
// single address without a display name; a phone number, optional, is E.164.
func DefaultPolicy() Policy {
	return Policy{
		RequireUsername: true,
		UsernameMinLen:  3,
		UsernameMaxLen:  32,
		PasswordMinLen:  8,
	}
}

var alnumUsername = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)

// WithAlnumUsernames is the preset for usernames matching
// ^[a-zA-Z0-9_]{3,30}$.
func (p Policy) WithAlnumUsernames() Policy {
	p.UsernameMinLen, p.UsernameMaxLen = 3, 30
	p.UsernamePattern = alnumUsername
	p.UsernameRule = "must contain only letters, digits and underscores"
	return p
}

// WithMixedCasePasswords is the preset for passwords containing an
// upper-case letter, a lower-case letter and a digit.
func (p Policy) WithMixedCasePasswords() Policy {
	p.PasswordNeedsUpper, p.PasswordNeedsLower, p.PasswordNeedsDigit = true, true, true
	return p
}

// WithLongPasswords is the preset for passwords of at least 12 characters
// mixing letters and digits.
func (p Policy) WithLongPasswords() Policy {
	p.PasswordMinLen = max(p.PasswordMinLen, 12)
	p.PasswordNeedsLetter, p.PasswordNeedsDigit = true, true
	return p
}

func (p *Policy) check() error {
	var errs []error
	if p.UsernameMinLen < 1 || p.UsernameMaxLen < p.UsernameMinLen || p.UsernameMaxLen > 64 {
		errs = append(errs, fmt.Errorf("username length %d..%d must lie within 1..64", p.UsernameMinLen, p.UsernameMaxLen))
	}
	if p.UsernamePattern != nil && p.UsernameRule == "" {
		errs = append(errs, errors.New("UsernamePattern needs a UsernameRule to describe it"))
	}
	if p.PasswordMinLen < 1 || p.PasswordMinLen > MaxPasswordBytes {
		errs = append(errs, fmt.Errorf("password minimum length %d must lie within 1..%d", p.PasswordMinLen, MaxPasswordBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: policy: %w", err)
	}
	return nil
}
