package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool settings for PostgreSQL. Each can be overridden by a parameter of the
// URL with the name pgxpool uses for the same setting.
const (
	// PoolMaxConnsParam sets the most connections open at once. Default:
	// DefaultPoolMaxConns. Every connection is a server process; size it so
	// that instances × pool_max_conns stays under the server's
	// max_connections.
	PoolMaxConnsParam = "pool_max_conns"
	// PoolMaxConnLifetimeParam sets how long a connection is used before it
	// is replaced (a Go duration: "30m"). Default: DefaultPoolMaxConnLifetime.
	PoolMaxConnLifetimeParam = "pool_max_conn_lifetime"
	// PoolMaxConnIdleTimeParam sets how long an idle connection is kept.
	// Default: DefaultPoolMaxConnIdleTime.
	PoolMaxConnIdleTimeParam = "pool_max_conn_idle_time"

	// DefaultPoolMaxConnLifetime retires connections now and then, so that a
	// pool behind a proxy or a fail-over address moves to the new server.
	DefaultPoolMaxConnLifetime = 30 * time.Minute
	// DefaultPoolMaxConnIdleTime closes connections a burst opened once the
	// burst is over.
	DefaultPoolMaxConnIdleTime = 5 * time.Minute
)

// Server settings that every PostgreSQL connection gets unless the URL sets
// them itself, as a parameter (?lock_timeout=2s) or in options
// (?options=-c%20lock_timeout%3D2s). They are sent as run-time parameters
// when the connection starts, so they override what ALTER ROLE or ALTER
// DATABASE set for them; set them in the URL instead. A value of 0 turns one
// off.
//
// Without them a call whose context has no deadline could wait forever
// behind a row lock that another session holds, and a session that died
// half-way through a transaction could hold its locks forever.
const (
	// DefaultLockTimeout bounds each wait for a lock (lock_timeout).
	DefaultLockTimeout = 10 * time.Second
	// DefaultStatementTimeout bounds each statement (statement_timeout),
	// lock waits included. Migrations run on a connection of their own
	// without it (see migrationConfig).
	DefaultStatementTimeout = 30 * time.Second
	// DefaultIdleInTransactionSessionTimeout ends a session that keeps a
	// transaction open without sending anything
	// (idle_in_transaction_session_timeout).
	DefaultIdleInTransactionSessionTimeout = 60 * time.Second
)

// serverDefaults are the run-time parameters added to a connection whose URL
// does not set them, in milliseconds (PostgreSQL's unit for all three).
func serverDefaults() map[string]string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return map[string]string{
		"lock_timeout":                        ms(DefaultLockTimeout),
		"statement_timeout":                   ms(DefaultStatementTimeout),
		"idle_in_transaction_session_timeout": ms(DefaultIdleInTransactionSessionTimeout),
	}
}

// addServerDefaults puts serverDefaults into params, pgx's RuntimeParams
// (where pgx puts every URL parameter it does not know), for each setting
// that neither a parameter nor the options parameter sets. Setting names are
// case-insensitive, and options may spell '_' as '-'.
func addServerDefaults(params map[string]string) {
	options := strings.ToLower(strings.ReplaceAll(params["options"], "-", "_"))
	for name, value := range serverDefaults() {
		set := strings.Contains(options, name+"=")
		for k := range params {
			set = set || strings.EqualFold(k, name)
		}
		if !set {
			params[name] = value
		}
	}
}

// DefaultPoolMaxConns is the default size of a PostgreSQL pool: twice the
// cores the process may use, at least 4. The store's slow work is bcrypt on
// the client's cores, so more connections than that only queue.
func DefaultPoolMaxConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// IsPostgres reports whether dsn names a PostgreSQL database: a URL whose
// scheme is postgres or postgresql.
func IsPostgres(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// isKeyValueDSN reports whether dsn has the shape of a libpq key/value
// connection string: nothing but keyword=value pairs separated by spaces
// (spaces around '=' allowed, values plain or single-quoted with backslash
// escapes), at least one keyword being one of libpq's. A file name that
// merely contains '=' ("a=b.db", "./host=x") does not have that shape.
func isKeyValueDSN(dsn string) bool {
	pairs, ok := parseKeyValue(dsn)
	if !ok {
		return false
	}
	for _, p := range pairs {
		if libpqKeywords[p.key] {
			return true
		}
	}
	return false
}

// libpqKeywords are the connection keywords libpq documents, the ones that
// mark a string as a key/value DSN.
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true,
	"password": true, "passfile": true, "require_auth": true, "channel_binding": true,
	"connect_timeout": true, "client_encoding": true, "options": true,
	"application_name": true, "fallback_application_name": true, "keepalives": true,
	"sslmode": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"sslrootcert": true, "sslcrl": true, "sslnegotiation": true, "sslsni": true,
	"requiressl": true, "gssencmode": true, "krbsrvname": true, "service": true,
	"target_session_attrs": true, "load_balance_hosts": true,
}

type keyValue struct{ key, value string }

// parseKeyValue splits a libpq key/value string into its pairs; ok is false
// when s does not have that shape.
func parseKeyValue(s string) (pairs []keyValue, ok bool) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			return pairs, len(pairs) > 0
		}
		start := i
		for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' ||
			i > start && s[i] >= '0' && s[i] <= '9') {
			i++
		}
		key := s[start:i]
		skipSpace()
		if key == "" || i == len(s) || s[i] != '=' {
			return nil, false
		}
		i++
		skipSpace()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			for i++; ; i++ {
				if i == len(s) {
					return nil, false // unterminated
				}
				if s[i] == '\\' && i+1 < len(s) {
					i++
				} else if s[i] == '\'' {
					i++
					break
				}
				v.WriteByte(s[i])
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		pairs = append(pairs, keyValue{strings.ToLower(key), v.String()})
		if i < len(s) && !isSpace(s[i]) {
			return nil, false // 'a'b: junk after a quoted value
		}
	}
}

// redactKeyValue keeps the pairs of a key/value DSN that name the server,
// database and user; everything else (password, sslpassword, options...) is
// dropped.
func redactKeyValue(dsn string) string {
	pairs, _ := parseKeyValue(dsn)
	var kept []string
	for _, p := range pairs {
		switch p.key {
		case "host", "hostaddr", "port", "dbname", "user":
			if strings.ContainsAny(p.value, " '\\") {
				continue
			}
			kept = append(kept, p.key+"="+p.value)
		}
	}
	if len(kept) == 0 {
		return "(key/value DSN)"
	}
	return strings.Join(kept, " ")
}

// checkUserInfo refuses a PostgreSQL URL whose user information pgx would
// not end where Redact ends it, at the last '@'. pgx, like libpq, ends it at
// the first '@', and only if no '/' comes before; so an unencoded '@' or '/'
// in the password, or an '@' anywhere after the host, would make the rest of
// the password the host, the database or a parameter, and pgx's connection
// errors name the host and the database. A user name with '?' or '#' (a
// password parameter misplaced before the '@', say) is refused as well:
// Redact hides it, pgx's errors would not.
// afterUserInfo returns the index in dsn just past the user information and
// its '@' as pgx reads them, or just past "://" when there is none.
func afterUserInfo(dsn string) int {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return 0
	}
	i += len("://")
	if at := strings.IndexAny(dsn[i:], "@/"); at >= 0 && dsn[i+at] == '@' {
		return i + at + 1
	}
	return i
}

func checkUserInfo(dsn string) error {
	_, rest, _ := strings.Cut(dsn, "://")
	pgxAt := strings.IndexAny(rest, "@/")
	if pgxAt >= 0 && rest[pgxAt] != '@' {
		pgxAt = -1
	}
	if pgxAt != strings.LastIndex(rest, "@") {
		return errors.New("the URL has an '@' or '/' in its password, or an '@' after the host: " +
			"percent-encode them (@ as %40, / as %2F)")
	}
	if pgxAt >= 0 {
		if user, _, _ := strings.Cut(rest[:pgxAt], ":"); strings.ContainsAny(user, "?#") {
			return errors.New("the URL's user name has a '?' or '#': percent-encode them (%3F, %23)")
		}
	}
	return nil
}

type poolSettings struct {
	maxConns    int
	maxLifetime time.Duration
	maxIdleTime time.Duration
}

// splitPoolSettings takes credstore's pool parameters out of a PostgreSQL
// URL: left in, pgx would send them to the server as run-time settings, which
// the server refuses.
func splitPoolSettings(dsn string) (string, poolSettings, error) {
	ps := poolSettings{
		maxConns:    DefaultPoolMaxConns(),
		maxLifetime: DefaultPoolMaxConnLifetime,
		maxIdleTime: DefaultPoolMaxConnIdleTime,
	}
	// The parameters begin at the first '?' after the user information,
	// which may itself hold a '?' (see checkUserInfo).
	start := afterUserInfo(dsn)
	q0 := strings.IndexByte(dsn[start:], '?')
	if q0 < 0 {
		return dsn, ps, nil
	}
	base, rawQuery := dsn[:start+q0], dsn[start+q0+1:]
	// Only credstore's own parameters are taken out; the others are passed
	// on byte for byte. Re-encoding them would write a space as '+', which
	// pgx, like libpq, keeps as a '+' (options=-c%20lock_timeout%3D1s would
	// reach the server as "-c+lock_timeout=1s").
	q := url.Values{}
	var kept []string
	for _, pair := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		switch name, _ := url.QueryUnescape(k); name {
		case PoolMaxConnsParam, PoolMaxConnLifetimeParam, PoolMaxConnIdleTimeParam:
			value, err := url.QueryUnescape(v)
			if err != nil {
				return "", ps, fmt.Errorf("URL parameter %s: %w", name, err)
			}
			q.Set(name, value)
		case "":
			if pair != "" {
				kept = append(kept, pair)
			}
		default:
			kept = append(kept, pair)
		}
	}
	if v := q.Get(PoolMaxConnsParam); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", ps, fmt.Errorf("%s=%q: want a whole number of at least 1", PoolMaxConnsParam, v)
		}
		ps.maxConns = n
	}
	for name, dst := range map[string]*time.Duration{
		PoolMaxConnLifetimeParam: &ps.maxLifetime,
		PoolMaxConnIdleTimeParam: &ps.maxIdleTime,
	} {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", ps, fmt.Errorf("%s=%q: want a duration such as 30m", name, v)
			}
			*dst = d
		}
	}
	if len(kept) == 0 {
		return base, ps, nil
	}
	return base + "?" + strings.Join(kept, "&"), ps, nil
}

// openPostgres opens a pool on the PostgreSQL database that the URL dsn
// names, through pgx's database/sql driver. It also returns the URL's
// connection settings, from which the migration connection is made.
func openPostgres(dsn string) (*sql.DB, *pgx.ConnConfig, error) {
	if err := checkUserInfo(dsn); err != nil {
		return nil, nil, err
	}
	pgDSN, ps, err := splitPoolSettings(dsn)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := pgx.ParseConfig(pgDSN)
	if err != nil {
		return nil, nil, errors.New("invalid PostgreSQL URL") // pgx's message may quote the password
	}
	migrateCfg := cfg.Copy()
	addServerDefaults(cfg.RuntimeParams)
	connector := stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(utcTimes))
	pool := sql.OpenDB(connector)
	pool.SetMaxOpenConns(ps.maxConns)
	// Idle connections are kept up to the maximum: each holds pgx's cache
	// of prepared statements, which a new connection has to build again.
	pool.SetMaxIdleConns(ps.maxConns)
	pool.SetConnMaxLifetime(ps.maxLifetime)
	pool.SetConnMaxIdleTime(ps.maxIdleTime)
	return pool, migrateCfg, nil
}

// timeoutSettings are the server settings that bound a request's statements:
// credstore's serverDefaults, which a URL may also set itself.
func timeoutSettings() map[string]bool {
	m := map[string]bool{}
	for name := range serverDefaults() {
		m[name] = true
	}
	return m
}

// migrationConfig returns a copy of cfg for the connection that migrates:
// without any of the timeouts that suit requests, whether credstore's
// defaults or the URL's own (as a parameter or in options), and with the
// settings a migration needs instead. They are sent when the connection
// starts, so no statement of the migration, its BEGIN included, ever runs
// under a request's timeout.
//
// A migration may rewrite a large table, and another instance waits for it
// behind the migration lock: its statements run as long as they need, and
// a lock is awaited for up to MigrationLockTimeout. The caller's context
// still ends either.
func migrationConfig(cfg *pgx.ConnConfig) *pgx.ConnConfig {
	c := cfg.Copy()
	drop := timeoutSettings()
	params := make(map[string]string, len(c.RuntimeParams)+len(drop))
	for k, v := range c.RuntimeParams {
		switch {
		case drop[strings.ToLower(k)]:
		case strings.EqualFold(k, "options"):
			if v = withoutOptions(v, drop); v != "" {
				params[k] = v
			}
		default:
			params[k] = v
		}
	}
	params["statement_timeout"] = "0"
	params["idle_in_transaction_session_timeout"] = "0"
	params["lock_timeout"] = strconv.FormatInt(MigrationLockTimeout.Milliseconds(), 10)
	c.RuntimeParams = params
	return c
}

// withoutOptions removes from a libpq options string ("-c lock_timeout=2s
// -c work_mem=64MB") the settings named in drop, keeping everything else as
// written. A setting is "-c name=value", "-cname=value" or "--name=value";
// names are case-insensitive and may spell '_' as '-'. Spaces escaped with a
// backslash stay inside their word.
func withoutOptions(options string, drop map[string]bool) string {
	words := splitOptions(options)
	setting := func(s string) bool {
		name, _, ok := strings.Cut(s, "=")
		return ok && drop[strings.ToLower(strings.ReplaceAll(name, "-", "_"))]
	}
	var kept []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-c" && i+1 < len(words):
			if !setting(words[i+1]) {
				kept = append(kept, w, words[i+1])
			}
			i++
		case strings.HasPrefix(w, "--"):
			if !setting(w[2:]) {
				kept = append(kept, w)
			}
		case strings.HasPrefix(w, "-c"):
			if !setting(w[2:]) {
				kept = append(kept, w)
			}
		default:
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}

// splitOptions splits an options string at unescaped whitespace, as the
// server does, keeping the escapes in the words.
func splitOptions(s string) []string {
	var words []string
	var w strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			w.WriteByte(c)
			i++
			w.WriteByte(s[i])
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if w.Len() > 0 {
				words = append(words, w.String())
				w.Reset()
			}
		default:
			w.WriteByte(c)
		}
	}
	if w.Len() > 0 {
		words = append(words, w.String())
	}
	return words
}

// utcTimes is pgx's after-connect hook for every connection credstore
// opens: times come back in UTC, as they do from SQLite, rather than in the
// client's local zone.
func utcTimes(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// poolConfig reads the connection settings of a pgx pool that someone else
// opened, from one of its connections.
func poolConfig(ctx context.Context, pool *sql.DB) (*pgx.ConnConfig, error) {
	c, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var cfg *pgx.ConnConfig
	err = c.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the pool's connections are %T, not pgx's *stdlib.Conn", dc)
		}
		cfg = pc.Conn().Config()
		return nil
	})
	return cfg, err
}

// openMigrationPool opens a pool of one connection for migrating, on the
// server and database of cfg, with migrationConfig's settings.
func openMigrationPool(cfg *pgx.ConnConfig) *sql.DB {
	pool := stdlib.OpenDB(*migrationConfig(cfg), stdlib.OptionAfterConnect(utcTimes))
	pool.SetMaxOpenConns(1)
	return pool
}
