package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
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
	base, rawQuery, found := strings.Cut(dsn, "?")
	if !found {
		return dsn, ps, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", ps, fmt.Errorf("URL parameters: %w", err)
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
	q.Del(PoolMaxConnsParam)
	q.Del(PoolMaxConnLifetimeParam)
	q.Del(PoolMaxConnIdleTimeParam)
	if len(q) == 0 {
		return base, ps, nil
	}
	return base + "?" + q.Encode(), ps, nil
}

// openPostgres opens a pool on the PostgreSQL database that the URL dsn
// names, through pgx's database/sql driver.
func openPostgres(dsn string) (*sql.DB, error) {
	pgDSN, ps, err := splitPoolSettings(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(pgDSN)
	if err != nil {
		return nil, errors.New("invalid PostgreSQL URL") // pgx's message may quote the password
	}
	connector := stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as they do from SQLite, rather than
		// in the client's local zone.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}))
	pool := sql.OpenDB(rebindConnector{Connector: connector, cache: &rebindCache{}})
	pool.SetMaxOpenConns(ps.maxConns)
	// Idle connections are kept up to the maximum: each holds pgx's cache
	// of prepared statements, which a new connection has to build again.
	pool.SetMaxIdleConns(ps.maxConns)
	pool.SetConnMaxLifetime(ps.maxLifetime)
	pool.SetConnMaxIdleTime(ps.maxIdleTime)
	return pool, nil
}

// rebindConnector hands out pgx connections that rewrite SQLite-style ?N
// parameters into $N (see rebind) before a statement reaches pgx.
//
// The rewrite sits in the driver connection rather than in a wrapper around
// *sql.DB and *sql.Tx so that every path gets it: the generated accessors
// (through DB.Executor and DB.InTx), statements prepared with
// PrepareContext, the migration bookkeeping, and the raw *sql.DB that
// DB.SQL gives tests and tools. Statements already written with $N pass
// through unchanged.
type rebindConnector struct {
	driver.Connector
	cache *rebindCache // shared by the pool's connections
}

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx returned a %T connection, not *stdlib.Conn", conn)
	}
	return rebindConn{Conn: pc, cache: c.cache}, nil
}

// rebindConn is a pgx connection whose statements are rebound. Embedding
// *stdlib.Conn keeps every optional interface pgx implements (transactions
// with options, pings, session resets, value checks).
type rebindConn struct {
	*stdlib.Conn
	cache *rebindCache
}

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(c.cache.rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, c.cache.rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, c.cache.rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, c.cache.rebind(query), args)
}
